"""The audit report as a Rich table (terminal), Markdown (README, saved file) and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from shoplab.audit.interleaving import INTERLEAVING_METRIC
from shoplab.audit.results import AuditReport

__all__ = ["audit_rows", "render_json", "render_markdown", "render_rich", "save_report"]

_HEADER = ("check", "metric", "measured", "expected", "result")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _ok(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def audit_rows(report: AuditReport) -> list[tuple[str, str, str, str, str]]:
    """One (check, metric, measured, expected, result) row per figure.

    The single source of both the terminal table and the Markdown.
    """
    s = report.settings
    rows: list[tuple[str, str, str, str, str]] = []
    for a in report.aa:
        rows.append(
            (
                "A/A false-positive rate (interleaving: re-drawn coin flips)"
                if a.metric == INTERLEAVING_METRIC
                else f"A/A false-positive rate{' (CUPED)' if a.cuped else ''}"
                + (f", {_pct(a.treatment_share)} treatment" if a.treatment_share != 0.5 else ""),
                a.metric,
                f"{_pct(a.rate)} [{_pct(a.ci_lower)}, {_pct(a.ci_upper)}]"
                + (f"; p withheld in {_pct(a.withheld)}" if a.withheld else ""),
                f"{_pct(a.band_lower)} – {_pct(a.band_upper)}"
                if a.treatment_share == 0.5
                else f"≤ {_pct(a.band_upper)}",
                _ok(a.passed),
            )
        )
    for c in report.coverage:
        rows.append(
            (
                f"95 % CI coverage of a +{_pct(c.true_rel_effect)} lift",
                c.metric,
                f"{_pct(c.coverage)} [{_pct(c.ci_lower)}, {_pct(c.ci_upper)}]; "
                f"mean est. {_pct(c.mean_rel_effect)}; power {_pct(c.power)}",
                f"{_pct(c.band_lower)} – {_pct(c.band_upper)}",
                _ok(c.passed),
            )
        )
    for e in report.simulated_effect:
        rows.append(
            (
                f"simulator click_mult = {s.click_mult:g} (analyze)",
                e.metric,
                f"{_pct(e.rel_effect)} [{_pct(e.rel_ci_lower)}, {_pct(e.rel_ci_upper)}], "
                f"p = {e.pvalue:.2g}"
                if e.pvalue is not None
                else e.status,
                f"CI holds {_pct(e.true_rel_effect)}",
                _ok(e.covered),
            )
        )
    for q in report.sequential:
        rows.append(
            (
                f"peeking daily ({q.looks} looks): always-valid vs naive",
                q.metric,
                f"{_pct(q.always_valid_rate)} vs naive {_pct(q.naive_rate)} "
                f"(last look only {_pct(q.final_look_rate)})",
                f"always-valid ≤ {_pct(s.alpha)}",
                _ok(q.passed),
            )
        )
    for cu in report.cuped:
        rows.append(
            (
                "CUPED variance reduction",
                cu.metric,
                f"{_pct(cu.empirical_variance_reduction)} across replications "
                f"(model {_pct(cu.model_variance_reduction)})",
                "reported",
                "info",
            )
        )
    for r in report.srm:
        what = f"drop {_pct(r.dropped_share)} of treatment" if r.broken else "intact"
        gated = r.source == "policy_log"
        rows.append(
            (
                f"SRM, {r.source.replace('_', ' ')} ({r.units:,} units), {what}",
                "—",
                f"χ² = {r.chi2:.1f}, p = {r.pvalue:.2g}",
                ("flagged (p < 0.001)" if r.broken else "not flagged") if gated else "reported",
                _ok(r.passed) if gated else ("flagged" if r.mismatch else "not flagged"),
            )
        )
    return rows


def _title(report: AuditReport) -> str:
    d, s = report.dataset, report.settings
    return (
        f"Calibration audit: {d.exposed_units:,} exposed units of {d.users:,} simulated users, "
        f"{s.pre_days} + {s.experiment_days} days, {s.replications:,} re-hash replications, "
        f"seed {s.seed}; {'ALL PASS' if report.passed else 'FAILURES'} ({report.seconds:.0f} s)"
    )


def render_rich(report: AuditReport) -> Table:
    """A Rich table for the terminal."""
    table = Table(title=_title(report), title_justify="left")
    for h in _HEADER:
        table.add_column(h, overflow="fold")
    for row in audit_rows(report):
        style = "red" if row[-1] == "FAIL" else None
        table.add_row(*row, style=style)
    return table


def render_markdown(report: AuditReport) -> str:
    """A Markdown table (what the README shows)."""
    lines = [f"**{_title(report)}** — generated {report.generated_at}", ""]
    lines.append("| " + " | ".join(_HEADER) + " |")
    lines.append("|" + "---|" * len(_HEADER))
    for row in audit_rows(report):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def render_json(report: AuditReport) -> str:
    """The full report as JSON."""
    return json.dumps(report.to_dict(), indent=1, default=str)


def save_report(report: AuditReport, folder: Path) -> Path:
    """Write ``audit-<time>.md|json`` and ``latest.md|json`` in ``folder``; return latest.md."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report.generated_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    md, js = render_markdown(report), render_json(report)
    for name, text in (
        (f"audit-{stamp}.md", md),
        (f"audit-{stamp}.json", js),
        ("latest.md", md),
        ("latest.json", js),
    ):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
    return folder / "latest.md"
