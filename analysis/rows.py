"""Scorecard rows from sufficient statistics: the test per metric kind, the status, the fields.

Each metric is analysed in isolation (GrowthBook's per-analysis try): a metric that cannot be
computed gets a row with an explicit status (``no_data``, ``zero_variance``, ``error``...) and the
rest of the scorecard is still produced. Multiple-testing adjustments are applied to finished
rows: Holm across the primary + secondary metrics, Benjamini–Hochberg across segments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np

from shoplab.analysis.bayes import bayes_readout
from shoplab.analysis.metrics import Metric
from shoplab.analysis.reduce import NO_LOWER_CAP, Caps, StatisticsTable
from shoplab.analysis.scorecard import MetricRow, RowStatus, SegmentRow
from shoplab.analysis.sequential import confidence_sequence_halfwidth
from shoplab.analysis.stats import (
    MAX_DIFFERENCE_SKEWNESS,
    Effect,
    FloatArray,
    SufficientStatistic,
    Test,
    benjamini_hochberg,
    difference_skewness_bound,
    holm,
    two_sample_effect,
)

__all__ = [
    "RELATIVE_CI_WIDE_G",
    "EffectFields",
    "TestOptions",
    "adjust_holm",
    "adjust_segments_bh",
    "effect_fields",
    "effect_row_fields",
    "metric_rows",
    "metric_test_options",
    "segment_rows",
    "skewness_bound",
]

RELATIVE_CI_WIDE_G = 0.1
"""Fieller's g = (q · SE(control) / control)² from which a row notes that its relative CI is wide
and asymmetric: the control value's own interval spans more than ±32 % of it, so the relative
effect is far less certain than the absolute one. The interval is Fieller's (exact, consistent with
the p-value) at every g < 1; at g >= 1 it is unbounded and none is shown."""


class TestOptions(TypedDict):
    """Keyword arguments of ``two_sample_effect`` that depend on the metric kind."""

    test: Test
    ddof: int


class _Required(TypedDict):
    metric: str
    role: str
    kind: str
    status: RowStatus
    detail: str
    n_control: int
    n_treatment: int


class EffectFields(_Required, total=False):
    """The fields of a :class:`MetricRow` one metric × treatment comparison fills (typed)."""

    test: str
    control_value: float | None
    treatment_value: float | None
    abs_effect: float | None
    abs_ci_lower: float | None
    abs_ci_upper: float | None
    rel_effect: float | None
    rel_ci_lower: float | None
    rel_ci_upper: float | None
    pvalue: float | None
    cuped: bool
    variance_reduction: float | None
    cs_lower: float | None
    cs_upper: float | None
    chance_to_win: float | None
    expected_loss: float | None
    cred_lower: float | None
    cred_upper: float | None


def metric_test_options(metric: Metric) -> TestOptions:
    """Test and ddof per metric kind (see ``analysis.stats.two_sample_effect``).

    Example:
        >>> from shoplab.analysis.metrics import get_metric
        >>> metric_test_options(get_metric("buyer_rate"))
        {'test': 'z', 'ddof': 0}
    """
    if metric.kind == "mean":
        return {"test": "welch", "ddof": 1}
    if metric.kind == "proportion":
        return {"test": "z", "ddof": 0}
    return {"test": "z", "ddof": 1}


def _f(x: object) -> float | None:
    v = float(x)  # type: ignore[arg-type] # numpy 0-d arrays and floats; float() accepts both
    return v if np.isfinite(v) else None


def _status(
    metric: Metric, c: SufficientStatistic, t: SufficientStatistic, e: Effect
) -> tuple[RowStatus, str]:
    n_c, n_t = float(c.n), float(t.n)
    if n_c == 0 or n_t == 0:
        return "no_data", f"units: control {int(n_c)}, treatment {int(n_t)}"
    if n_c < 2 or n_t < 2:
        return "too_few_units", f"units: control {int(n_c)}, treatment {int(n_t)}; need >= 2 each"
    if metric.kind == "ratio" and (c.sums[1] == 0 or t.sums[1] == 0):
        return "zero_denominator", (
            f"sum of {metric.denominator}: control {c.sums[1]:g}, treatment {t.sums[1]:g}"
        )
    se = float(e.abs_se)
    if not np.isfinite(se) or se == 0:
        return "zero_variance", "standard error of the effect is 0: the metric is constant"
    g = float(skewness_bound(metric, c, t))
    if g > MAX_DIFFERENCE_SKEWNESS:
        return "too_few_units", (
            f"p-value and intervals withheld: the difference in means is too skewed for its "
            f"{'t' if metric.kind == 'mean' else 'normal'} reference (skewness >= {g:.2f} > "
            f"{MAX_DIFFERENCE_SKEWNESS}; units: control {int(n_c)}, treatment {int(n_t)}); "
            "the A/A false-positive rate exceeds 6 % from 0.13. Balance the arms or wait for "
            "more units"
        )
    if float(e.control_value) == 0:
        return "zero_baseline", "control value is 0: relative effect undefined"
    return "ok", ""


def skewness_bound(
    metric: Metric, control: SufficientStatistic, treatment: SufficientStatistic
) -> FloatArray:
    """``stats.difference_skewness_bound`` where it holds, else 0.

    It holds for means and proportions of non-negative values; a row (or an audit replication)
    whose bound exceeds ``MAX_DIFFERENCE_SKEWNESS`` gets no p-value and no interval.
    """
    if metric.kind in ("mean", "proportion") and metric.nonnegative:
        return difference_skewness_bound(control, treatment)
    return np.zeros(np.broadcast(control.n, treatment.n).shape)


def _relative_fields(e: Effect, fields: EffectFields) -> None:
    """The relative effect and, when Fieller's g allows, its interval (in place)."""
    fields["rel_effect"] = _f(e.rel_effect)
    g = float(e.fieller_g)
    note = ""
    if g >= 1:
        # the control value is within its own CI of 0: the exact relative interval is
        # unbounded, and a delta-method one (−659 % to +1553 % on a small segment) misleads
        note = (
            f"relative CI not shown: the control value is not distinguishable from 0 "
            f"(Fieller g = {g:.2f} >= 1); read the absolute effect"
        )
    else:
        fields["rel_ci_lower"] = _f(e.rel_ci_lower)
        fields["rel_ci_upper"] = _f(e.rel_ci_upper)
        if g >= RELATIVE_CI_WIDE_G:
            note = (
                f"relative CI wide: the control value is uncertain (Fieller g = {g:.2f} >= "
                f"{RELATIVE_CI_WIDE_G})"
            )
    if note:
        fields["detail"] = f"{fields['detail']}; {note}" if fields["detail"] else note


def effect_fields(
    metric: Metric,
    control: SufficientStatistic,
    treatment: SufficientStatistic,
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> EffectFields:
    """Everything a MetricRow needs for one metric × treatment, status included."""
    opts = metric_test_options(metric)
    e = two_sample_effect(
        control, treatment, cuped=cuped, alpha=alpha, nonnegative=metric.nonnegative, **opts
    )
    status, detail = _status(metric, control, treatment, e)
    fields: EffectFields = {
        "metric": metric.name,
        "role": metric.role,
        "kind": metric.kind,
        "status": status,
        "detail": detail,
        "n_control": int(control.n),
        "n_treatment": int(treatment.n),
        "test": "welch_t" if opts["test"] == "welch" else "z",
    }
    if status in ("no_data", "zero_denominator"):
        return fields
    fields["control_value"] = _f(e.control_value)
    fields["treatment_value"] = _f(e.treatment_value)
    fields["abs_effect"] = _f(e.abs_effect)
    if status in ("zero_variance", "too_few_units"):
        return fields
    applied = bool(float(e.theta) != 0)
    hw = confidence_sequence_halfwidth(
        e.abs_se, float(control.n + treatment.n), alpha=alpha, tuning_n=tuning_n
    )
    fields["abs_ci_lower"] = _f(e.ci_lower)
    fields["abs_ci_upper"] = _f(e.ci_upper)
    fields["pvalue"] = _f(e.pvalue)
    fields["cuped"] = applied
    fields["variance_reduction"] = _f(e.variance_reduction) if applied else None
    fields["cs_lower"] = _f(e.abs_effect - hw)
    fields["cs_upper"] = _f(e.abs_effect + hw)
    if cuped and not applied:
        fields["detail"] = "CUPED not applied: no pre-period variation"
    if status == "ok":
        _relative_fields(e, fields)
        _bayes_fields(metric, e, alpha, fields)
    return fields


def _bayes_fields(metric: Metric, e: Effect, alpha: float, fields: EffectFields) -> None:
    """Chance to win, expected loss, credible interval (``analysis.bayes``, flat prior)."""
    r = bayes_readout(
        float(e.abs_effect), float(e.abs_se), higher_is_better=metric.higher_is_better,
        alpha=alpha,
    )
    if r is None:
        return
    fields["chance_to_win"] = r.chance_to_win
    fields["expected_loss"] = r.expected_loss
    fields["cred_lower"] = r.cred_lower
    fields["cred_upper"] = r.cred_upper


effect_row_fields = effect_fields  # the name before rows were typed (tests, audit)


def _safe_fields(
    m: Metric,
    c: SufficientStatistic,
    t: SufficientStatistic,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> EffectFields:
    try:
        return effect_fields(m, c, t, cuped=cuped, alpha=alpha, tuning_n=tuning_n)
    except Exception as exc:  # noqa: BLE001 - isolate one metric's failure, report it in its row
        return {
            "metric": m.name,
            "role": m.role,
            "kind": m.kind,
            "status": "error",
            "detail": f"{type(exc).__name__}: {exc}",
            "n_control": int(c.n),
            "n_treatment": int(t.n),
        }


def _cap(caps: Caps, m: Metric) -> float | None:
    """The upper winsorization bound (``winsorize_cap``), None when not winsorized."""
    c = caps.get(m.name)
    return c[1] if c else None


def _lower(caps: Caps, m: Metric) -> float | None:
    """The lower bound of a two-sided cap (``winsorize_lower``); None for a one-sided cap."""
    c = caps.get(m.name)
    return c[0] if c and c[0] > NO_LOWER_CAP else None


class _Options(TypedDict):
    cuped: bool
    alpha: float
    tuning_n: int


class _Lookup:
    """``stats`` with an empty statistic for every (variant, segment) it lacks (no units)."""

    def __init__(self, stats: StatisticsTable, metrics: Sequence[Metric]) -> None:
        self._stats = stats
        self._empty = {m.name: SufficientStatistic.from_units(np.zeros((0, 4))) for m in metrics}

    def __getitem__(self, key: tuple[str, str | None]) -> Mapping[str, SufficientStatistic]:
        return self._stats.get(key, self._empty)


def metric_rows(
    stats: StatisticsTable,
    metrics: Sequence[Metric],
    variants: Sequence[str],
    caps: Caps,
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> list[MetricRow]:
    """One row per treatment variant × metric (``variants[0]`` is the control), unadjusted."""
    opts: _Options = {"cuped": cuped, "alpha": alpha, "tuning_n": tuning_n}
    table = _Lookup(stats, metrics)
    control = table[(variants[0], None)]
    return [
        MetricRow(
            variant=vk,
            winsorize_cap=_cap(caps, m),
            winsorize_lower=_lower(caps, m),
            adjusted_pvalue=None,  # set by adjust_holm over the whole family
            **_safe_fields(m, control[m.name], table[(vk, None)][m.name], **opts),
        )
        for vk in variants[1:]
        for m in metrics
    ]


def segment_rows(
    stats: StatisticsTable,
    metrics: Sequence[Metric],
    variants: Sequence[str],
    caps: Caps,
    dimension: str,
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> list[SegmentRow]:
    """One row per treatment variant × metric × segment value, BH-adjusted across segments."""
    opts: _Options = {"cuped": cuped, "alpha": alpha, "tuning_n": tuning_n}
    table = _Lookup(stats, metrics)
    values = sorted({k[1] for k in stats if k[1] is not None})
    rows = [
        SegmentRow(
            variant=vk,
            dimension=dimension,
            segment=s,
            winsorize_cap=_cap(caps, m),
            winsorize_lower=_lower(caps, m),
            adjusted_pvalue=None,  # set by adjust_segments_bh below
            **_safe_fields(m, table[(variants[0], s)][m.name], table[(vk, s)][m.name], **opts),
        )
        for vk in variants[1:]
        for m in metrics
        for s in values
    ]
    return adjust_segments_bh(rows)


def adjust_holm(rows: list[MetricRow], tested: set[str]) -> list[MetricRow]:
    """Holm across primary + secondary metrics (all treatment variants); guardrails unadjusted."""
    idx = [i for i, r in enumerate(rows) if r.metric in tested and r.pvalue is not None]
    out = list(rows)
    for i, p in zip(idx, holm([rows[i].pvalue or 0.0 for i in idx]), strict=True):
        out[i] = rows[i].model_copy(update={"adjusted_pvalue": float(p)})
    return out


def adjust_segments_bh(rows: list[SegmentRow]) -> list[SegmentRow]:
    """Benjamini–Hochberg across the segments of each (metric, variant)."""
    out = list(rows)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r.pvalue is not None:
            groups.setdefault((r.metric, r.variant), []).append(i)
    for idx in groups.values():
        adj = benjamini_hochberg([rows[i].pvalue or 0.0 for i in idx])
        for i, p in zip(idx, adj, strict=True):
            out[i] = rows[i].model_copy(update={"adjusted_pvalue": float(p)})
    return out
