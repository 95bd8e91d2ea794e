"""Scorecard → Rich table (terminal) and Markdown (PRs, wikis). The SRM warning comes first in both.

Numbers: values with 4 significant digits, effects with a sign, relative effects in %, p-values in
scientific notation below 1e-3 so that 3e-12 is not shown as 0.000.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoplab.analysis.scorecard import InteractionRow, MetricRow, Scorecard, TriggeredRow

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.interleaving import InterleavingScorecard, PreferenceRow

__all__ = [
    "render_interleaving_markdown",
    "render_interleaving_rich",
    "render_markdown",
    "render_rich",
]

_HEAD = (
    "metric",
    "variant",
    "control",
    "treatment",
    "abs effect [95% CI]",
    "rel effect [95% CI]",
    "p",
    "p adj",
    "CUPED var.red.",
    "always-valid CI",
    "status",
)


def _n(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _p(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.1e}" if x < 1e-3 else f"{x:.3f}"


def _cells(r: MetricRow) -> list[str]:
    abs_ci = (
        "—"
        if r.abs_effect is None
        else (f"{r.abs_effect:+.4g} [{_n(r.abs_ci_lower)}, {_n(r.abs_ci_upper)}]")
    )
    rel_ci = (
        "—"
        if r.rel_effect is None
        else (
            f"{r.rel_effect:+.2%} [{r.rel_ci_lower:+.2%}, {r.rel_ci_upper:+.2%}]"
            if r.rel_ci_lower is not None and r.rel_ci_upper is not None
            else f"{r.rel_effect:+.2%}"
        )
    )
    cs = "—" if r.cs_lower is None else f"[{_n(r.cs_lower)}, {_n(r.cs_upper)}]"
    vr = "off" if not r.cuped else f"{(r.variance_reduction or 0.0):.1%}"
    status = r.status if not r.detail else f"{r.status}: {r.detail}"
    label = r.metric if r.role == "business" else f"{r.metric} ({r.role})"
    return [
        label,
        r.variant,
        _n(r.control_value),
        _n(r.treatment_value),
        abs_ci,
        rel_ci,
        _p(r.pvalue),
        _p(r.adjusted_pvalue),
        vr,
        cs,
        status,
    ]


def _caps_note(card: Scorecard) -> str:
    """The winsorization bounds of the rows, both when the cap is two-sided ("" if none)."""
    bounds: dict[str, str] = {}
    for r in card.rows:
        if r.winsorize_cap is None or r.metric in bounds:
            continue
        bounds[r.metric] = (
            f"{r.metric} within [{_n(r.winsorize_lower)}, {_n(r.winsorize_cap)}]"
            if r.winsorize_lower is not None
            else f"{r.metric} at ≤ {_n(r.winsorize_cap)}"
        )
    if not bounds:
        return ""
    return "Winsorized per unit (pre-period quantiles): " + "; ".join(bounds.values()) + "."


def _header_lines(card: Scorecard) -> list[str]:
    lines = list(card.warnings)
    units = ", ".join(f"{v.key}: {v.units:,} (w={v.weight:g})" for v in card.variants)
    lines.append(
        f"{card.experiment} (layer {card.layer}) window {card.start:%Y-%m-%d %H:%M} → "
        f"{card.window_end:%Y-%m-%d %H:%M} UTC; units {units}; SRM p = {_p(card.srm.pvalue)}"
    )
    return lines


def _decision_line(card: Scorecard) -> str:
    """``decision: SHIP — reason; reason`` (``analysis.decision``); "" for an older scorecard."""
    d = card.decision
    if d is None:
        return ""
    return f"decision: {d.decision.upper()} ({d.horizon}) — " + "; ".join(d.reasons)


def _event_log_line(card: Scorecard) -> str:
    """Which event log the scorecard read (older saved scorecards do not say)."""
    return card.event_log.describe() if card.event_log else "event log: not recorded"


_INTER_HEAD = (
    "other experiment",
    "layer",
    "units in both",
    "independence p",
    "metric",
    "variants",
    "interaction",
    "95% CI",
    "p adj",
    "flag",
)


def _inter_cells(i: InteractionRow) -> list[str]:
    ci = "—" if i.ci_lower is None else f"[{_n(i.ci_lower)}, {_n(i.ci_upper)}]"
    flag = "DEPENDENT" if i.dependent else ("INTERACTION" if i.flagged else "")
    return [
        i.other_experiment,
        i.other_layer,
        f"{i.units_both:,}",
        _p(i.independence_pvalue),
        i.metric,
        f"{i.variant} × {i.other_variant}",
        _n(i.interaction) if i.status == "ok" else i.status,
        ci,
        _p(i.adjusted_pvalue),
        flag,
    ]


_TRIG_HEAD = (
    "metric",
    "variant",
    "triggered units",
    "dilution",
    "triggered effect [95% CI]",
    "p",
    "diluted effect [95% CI]",
    "untriggered [95% CI]",
    "width ratio",
    "status",
)


def _ci(est: float | None, lo: float | None, hi: float | None) -> str:
    return "—" if est is None else f"{est:+.4g} [{_n(lo)}, {_n(hi)}]"


def _trig_cells(t: TriggeredRow) -> list[str]:
    return [
        t.metric,
        t.variant,
        f"{t.triggered_units:,} / {t.units:,}",
        "—" if t.dilution is None else f"{t.dilution:.1%}",
        _ci(t.triggered_effect, t.triggered_ci_lower, t.triggered_ci_upper),
        _p(t.pvalue),
        _ci(t.diluted_effect, t.diluted_ci_lower, t.diluted_ci_upper),
        _ci(t.untriggered_effect, t.untriggered_ci_lower, t.untriggered_ci_upper),
        _n(t.width_ratio),
        t.status if not t.detail else f"{t.status}: {t.detail}",
    ]


_TRIG_NOTE = (
    "Triggered: units from their first triggered request (events/triggers); diluted: Deng & Hu "
    "(dilution = trigger rate; for ratio metrics the triggered share of the denominator); "
    "untriggered: all units, no CUPED; width ratio < 1 is the variance reduction."
)


def render_markdown(card: Scorecard) -> str:
    """Markdown: warnings (bold) first, then the metric table and any segment table."""
    out = []
    for w in card.warnings:
        out.append(f"> **⚠ {w}**\n")
    out.append(f"## Scorecard: {card.experiment}\n")
    out.append(_header_lines(card)[-1] + "\n")
    if line := _decision_line(card):
        out.append(f"**{line}**\n")
    out.append(_event_log_line(card) + "\n")
    out.append("| " + " | ".join(_HEAD) + " |")
    out.append("|" + "---|" * len(_HEAD))
    for r in card.rows:
        out.append("| " + " | ".join(_cells(r)) + " |")
    if card.segments:
        out.append(
            f"\n### By {card.segment_dimension} (p adj: Benjamini–Hochberg across segments)\n"
        )
        head = ("segment", *_HEAD)
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for s in card.segments:
            out.append("| " + " | ".join([s.segment, *_cells(s)]) + " |")
    if card.interactions:
        out.append("\n### Interactions with concurrent experiments in other layers\n")
        out.append("| " + " | ".join(_INTER_HEAD) + " |")
        out.append("|" + "---|" * len(_INTER_HEAD))
        for i in card.interactions:
            out.append("| " + " | ".join(_inter_cells(i)) + " |")
    if card.triggered:
        out.append("\n### Triggered analysis\n")
        out.append("| " + " | ".join(_TRIG_HEAD) + " |")
        out.append("|" + "---|" * len(_TRIG_HEAD))
        for t in card.triggered:
            out.append("| " + " | ".join(_trig_cells(t)) + " |")
        out.append(f"\n{_TRIG_NOTE}")
    out.append(
        f"\np adj: Holm across primary and secondary metrics. Always-valid CI: "
        f"{card.sequential.method}, N* = {card.sequential.tuning_n:,}."
    )
    if note := _caps_note(card):
        out.append(f"\n{note}")
    return "\n".join(out) + "\n"


def render_rich(card: Scorecard) -> list[object]:
    """Rich renderables (panel for warnings, tables) to print with ``Console.print``."""
    from rich.panel import Panel
    from rich.table import Table

    parts: list[object] = []
    if card.warnings:
        style = "bold white on red" if not card.trustworthy else "yellow"
        parts.append(Panel("\n".join(card.warnings), title="WARNING", style=style))
    t = Table(title=_header_lines(card)[-1], caption=_caps_note(card) or None, show_lines=False)
    for h in _HEAD:
        t.add_column(h, overflow="fold")
    for r in card.rows:
        sig = r.pvalue is not None and r.pvalue < card.alpha and r.status == "ok"
        t.add_row(*_cells(r), style="bold" if sig else None)
    parts.append(t)
    if card.segments:
        s_t = Table(title=f"by {card.segment_dimension} (p adj: BH across segments)")
        for h in ("segment", *_HEAD):
            s_t.add_column(h, overflow="fold")
        for s in card.segments:
            s_t.add_row(s.segment, *_cells(s))
        parts.append(s_t)
    if card.interactions:
        i_t = Table(title="interactions with concurrent experiments in other layers")
        for h in _INTER_HEAD:
            i_t.add_column(h, overflow="fold")
        for i in card.interactions:
            i_t.add_row(*_inter_cells(i), style="bold red" if i.flagged or i.dependent else None)
        parts.append(i_t)
    if card.triggered:
        tr = Table(title="triggered analysis", caption=_TRIG_NOTE)
        for h in _TRIG_HEAD:
            tr.add_column(h, overflow="fold")
        for trow in card.triggered:
            tr.add_row(*_trig_cells(trow))
        parts.append(tr)
    if line := _decision_line(card):
        style = {"ship": "bold green", "stop for harm": "bold red"}.get(
            card.decision.decision if card.decision else "", "bold"
        )
        parts.append(f"[{style}]{line}[/]")
    parts.append(f"[dim]{_event_log_line(card)}[/]")
    return parts


_PREF_HEAD = (
    "outcome",
    "A credit",
    "B credit",
    "Δ per request [95% CI]",
    "always-valid CI",
    "p",
    "status",
)


def _pref_cells(r: PreferenceRow) -> list[str]:
    cs = "—" if r.cs_lower is None else f"[{r.cs_lower:+.4g}, {r.cs_upper:+.4g}]"
    return [
        r.outcome,
        _n(r.credit_a),
        _n(r.credit_b),
        _ci(r.delta, r.ci_lower, r.ci_upper),
        cs,
        _p(r.pvalue),
        r.status,
    ]


def _il_header(card: InterleavingScorecard) -> str:
    return (
        f"{card.experiment} (interleaving, layer {card.layer}): A = {card.ranker_a}, "
        f"B = {card.ranker_b}; window {card.start:%Y-%m-%d %H:%M} → "
        f"{card.window_end:%Y-%m-%d %H:%M} UTC; {card.users:,} users, {card.requests:,} requests"
    )


def _il_summary(card: InterleavingScorecard) -> str:
    rates = (
        f"win rate A {card.win_rate_a:.2%}, B {card.win_rate_b:.2%}, ties {card.tie_rate:.2%}"
        if card.win_rate_a is not None and card.win_rate_b is not None and card.tie_rate is not None
        else "no requests"
    )
    return (
        f"requests won: A {card.wins_a:,}, B {card.wins_b:,}, ties {card.ties:,} ({rates}); "
        f"clicks on contested slots {card.contested_clicks:,} of {card.clicks:,} (credited by "
        "team: the coin flip's)"
    )


def _il_decision(card: InterleavingScorecard) -> str:
    d = card.decision
    return f"decision: {d.decision.upper()} ({d.horizon}) — " + "; ".join(d.reasons)


def render_interleaving_markdown(card: InterleavingScorecard) -> str:
    """Markdown of an interleaving scorecard: warnings, header, preference table, decision."""
    out = [f"> **⚠ {w}**\n" for w in card.warnings]
    out.append(f"## Interleaving scorecard: {card.experiment}\n")
    out.append(_il_header(card) + "\n")
    out.append(f"**{_il_decision(card)}**\n")
    out.append(_il_summary(card) + "\n")
    out.append("| " + " | ".join(_PREF_HEAD) + " |")
    out.append("|" + "---|" * len(_PREF_HEAD))
    for r in card.rows:
        out.append("| " + " | ".join(_pref_cells(r)) + " |")
    out.append(
        "\nΔ = (B − A) per request: wins (requests where B's credited clicks beat A's, minus "
        "the reverse; the verdict's test), wins_uncontested (the same with a contested slot's "
        "click credited to neither), then credited clicks, orders and GMV; intervals clustered "
        "by user (delta method)."
    )
    return "\n".join(out) + "\n"


def render_interleaving_rich(card: InterleavingScorecard) -> list[object]:
    """Rich renderables of an interleaving scorecard."""
    from rich.panel import Panel
    from rich.table import Table

    parts: list[object] = []
    if card.warnings:
        style = "bold white on red" if not card.trustworthy else "yellow"
        parts.append(Panel("\n".join(card.warnings), title="WARNING", style=style))
    t = Table(title=_il_header(card), caption=_il_summary(card))
    for h in _PREF_HEAD:
        t.add_column(h, overflow="fold")
    for r in card.rows:
        sig = r.pvalue is not None and r.pvalue < card.alpha
        t.add_row(*_pref_cells(r), style="bold" if sig else None)
    parts.append(t)
    style = {"ship": "bold green"}.get(card.decision.decision, "bold")
    parts.append(f"[{style}]{_il_decision(card)}[/]")
    return parts
