"""A decision, not only a table: ship, don't ship, keep running, or stop for harm — with reasons.

The rule, in order (the first that applies decides; every reason found is listed):

1. **Trust.** A scorecard that is not trustworthy (an unvalidated log, a draft, no exposures, a
   sample ratio mismatch) decides nothing: ``don't ship`` with the status as the reason, since
   none of its numbers can be read.
2. **Fallbacks.** A model-served variant whose model fell back for more than its ceiling
   (:data:`MAX_FALLBACK_SHARE` of its requests unless the analysis sets another) did not test
   that model: ``don't ship``. The scorecard shows it as the guardrail row
   :data:`FALLBACK_METRIC` (:func:`fallback_rows`: fallbacks / requests per arm, counted by
   ``shoplab.rank`` and the simulator in ``shoplab.models.fallbacks``), failing above the
   ceiling. A ceiling, not a test: a storm of fallbacks is an outage to fix, not an effect to
   estimate, so no interval is needed to read it.
3. **Harm.** Before the planned end the always-valid interval is read (it may be watched daily);
   at or after the end, the fixed-horizon interval. ``stop for harm`` when the primary metric is
   significantly worse, or a guardrail is significantly worse by more than its margin.
4. **Ship.** The primary metric is significantly better (Holm-adjusted at the planned end, the
   always-valid interval before it) and every guardrail is non-inferior: the upper end of its
   harm interval is within its margin (``Metric.non_inferiority_margin``, relative to the control
   value, 5 % unless the catalog says otherwise).
5. Otherwise ``keep running`` before the planned end, ``don't ship`` at or after it.

"Better" and "worse" read each metric's direction (``higher_is_better``): a significant fall of the
refund rate is an improvement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final, Literal

from shoplab.analysis.metrics import Metric
from shoplab.analysis.scorecard import Decision, DecisionInfo, MetricRow
from shoplab.core.errors import InputError

__all__ = [
    "FALLBACK_METRIC",
    "MAX_FALLBACK_SHARE",
    "Decision",
    "DecisionInfo",
    "decide",
    "fallback_rows",
]

MAX_FALLBACK_SHARE: Final = 0.01
"""Default ceiling: fallbacks above this share of a variant's requests mean its model was not
what was tested."""
FALLBACK_METRIC: Final = "fallback_rate"
"""The guardrail row of serving fallbacks ("no fallback storm"; see :func:`fallback_rows`)."""


def fallback_rows(
    control: str,
    treatments: Sequence[str],
    fallbacks: Mapping[str, int],
    requests: Mapping[str, int],
    ceiling: float = MAX_FALLBACK_SHARE,
    *,
    per: str = "requests",
) -> list[MetricRow]:
    """One :data:`FALLBACK_METRIC` guardrail row per treatment: fallbacks / requests per arm.

    ``control_value`` and ``treatment_value`` are each arm's rate; ``detail`` names the counts,
    the ceiling and whether the arm passes. An arm without requests has ``status == "no_data"``.
    ``per`` names the denominator (``units`` when the log has no requests to count).

    Example:
        >>> row = fallback_rows("control", ["treatment"], {"treatment": 30}, {"control": 1000,
        ...                     "treatment": 1000})[0]
        >>> round(row.treatment_value, 3), row.detail.endswith("FAIL (treatment)")
        (0.03, True)
    """
    if not 0 <= ceiling < 1:
        raise InputError(f"fallback ceiling == {ceiling!r}, must be in [0, 1) (a share).")

    def rate(v: str) -> float | None:
        n = requests.get(v, 0)
        return fallbacks.get(v, 0) / n if n > 0 else None

    c = rate(control)
    out = []
    for v in treatments:
        t = rate(v)
        fails = [a for a, r in ((control, c), (v, t)) if r is not None and r > ceiling]
        detail = (
            f"{v}: {fallbacks.get(v, 0):,} of {requests.get(v, 0):,} {per} fell back to the "
            f"control ranker, {control}: {fallbacks.get(control, 0):,} of "
            f"{requests.get(control, 0):,}; ceiling {ceiling:.1%}: "
            + (f"FAIL ({', '.join(fails)})" if fails else "pass")
        )
        out.append(MetricRow(
            metric=FALLBACK_METRIC, role="guardrail", kind="ceiling", variant=v,
            status="ok" if c is not None and t is not None else "no_data", detail=detail,
            n_control=requests.get(control, 0), n_treatment=requests.get(v, 0),
            control_value=c, treatment_value=t,
            abs_effect=None if c is None or t is None else t - c, test="ceiling",
            adjusted_pvalue=None, winsorize_cap=None, winsorize_lower=None,
        ))
    return out


def _bounds(row: MetricRow, interim: bool) -> tuple[float, float] | None:
    lo, hi = (row.cs_lower, row.cs_upper) if interim else (row.abs_ci_lower, row.abs_ci_upper)
    return None if lo is None or hi is None else (lo, hi)


def _better(row: MetricRow, metric: Metric, interim: bool, alpha: float) -> bool | None:
    """True: significantly better; False: significantly worse; None: neither (or not computed)."""
    if interim:
        b = _bounds(row, True)
        if b is None:
            return None
        lo, hi = b
        if lo <= 0 <= hi:
            return None
        return (lo > 0) == metric.higher_is_better
    p = row.adjusted_pvalue if row.adjusted_pvalue is not None else row.pvalue
    if p is None or row.abs_effect is None or p >= alpha:
        return None
    return (row.abs_effect > 0) == metric.higher_is_better


def _harm_bounds(row: MetricRow, metric: Metric, interim: bool) -> tuple[float, float] | None:
    """The interval of "how much worse" (positive = worse), in the metric's units."""
    b = _bounds(row, interim)
    if b is None:
        return None
    lo, hi = b
    return (-hi, -lo) if metric.higher_is_better else (lo, hi)


def decide(
    rows: Sequence[MetricRow],
    metrics: Mapping[str, Metric],
    *,
    primary: str,
    guardrails: Sequence[str],
    trustworthy: bool,
    status: str,
    as_of: datetime,
    end: datetime,
    alpha: float,
    fallback_share: Mapping[str, float] | None = None,
    fallback_ceiling: float = MAX_FALLBACK_SHARE,
) -> DecisionInfo:
    """The decision over every treatment variant's rows (see the module docstring).

    With more than one treatment, any arm's harm stops the test and a ship names its arm.

    Args:
        rows: the scorecard's metric rows.
        metrics: metric definitions by name (directions and margins).
        primary: the primary metric.
        guardrails: the experiment's guardrail metrics.
        trustworthy: whether the scorecard can be read at all.
        status: the scorecard's status (the reason when it cannot).
        as_of: the analysis instant.
        end: the planned end (before it the always-valid interval is read).
        alpha: the scorecard's level.
        fallback_share: per variant, serving fallbacks / requests (model-served variants only),
            beside the :data:`FALLBACK_METRIC` rows of ``rows`` (both are read).
        fallback_ceiling: the largest share of fallbacks an arm may have and still ship.
    """
    interim = as_of < end
    horizon: Literal["always-valid", "fixed-horizon"] = (
        "always-valid" if interim else "fixed-horizon"
    )
    if not trustworthy:
        return DecisionInfo(
            decision="don't ship", horizon=horizon,
            reasons=[f"scorecard not trustworthy ({status}): no number in it can be read"],
        )
    reasons: list[str] = []
    # the legacy per-unit shares (a caller's own count), then the guardrail rows (per request)
    storm = {v: s for v, s in (fallback_share or {}).items() if s > fallback_ceiling}
    for v, s in storm.items():
        reasons.append(
            f"{v}: {s:.1%} of units fell back to the control ranker (> {fallback_ceiling:.0%}): "
            "its model is not what was tested"
        )
    for r in rows:
        if r.metric != FALLBACK_METRIC:
            continue
        for arm, share in ((r.variant, r.treatment_value), (f"control (vs {r.variant})",
                                                            r.control_value)):
            if share is not None and share > fallback_ceiling and arm not in storm:
                storm[arm] = share
                reasons.append(
                    f"{arm}: guardrail {FALLBACK_METRIC} failed: {share:.1%} of requests fell "
                    f"back to the control ranker (ceiling {fallback_ceiling:.1%}): its model is "
                    "not what was tested"
                )
    harm, ship_arms = [], []
    for variant in dict.fromkeys(r.variant for r in rows):
        mine = {r.metric: r for r in rows if r.variant == variant}
        p_row = mine.get(primary)
        p_better = _better(p_row, metrics[primary], interim, alpha) if p_row else None
        if p_better is False:
            harm.append(f"{variant}: primary {primary} significantly worse")
        guard_ok = True
        for g in guardrails:
            row = mine.get(g)
            m = metrics.get(g)
            if row is None or m is None:
                continue
            hb = _harm_bounds(row, m, interim)
            if hb is None or row.control_value is None:
                guard_ok = False
                reasons.append(f"{variant}: guardrail {g} not computed ({row.status})")
                continue
            margin = m.non_inferiority_margin * abs(row.control_value)
            if hb[0] > margin:
                harm.append(
                    f"{variant}: guardrail {g} worse by more than its "
                    f"{m.non_inferiority_margin:.0%} margin (harm interval [{hb[0]:.4g}, "
                    f"{hb[1]:.4g}] > {margin:.4g})"
                )
                guard_ok = False
            elif hb[1] > margin:
                guard_ok = False
                reasons.append(
                    f"{variant}: guardrail {g} not shown non-inferior (harm up to {hb[1]:.4g} > "
                    f"{m.non_inferiority_margin:.0%} margin {margin:.4g})"
                )
            else:
                reasons.append(f"{variant}: guardrail {g} non-inferior (margin {margin:.4g})")
        said = {True: "significantly better", False: "significantly worse", None: "not significant"}
        reasons.insert(0, f"{variant}: primary {primary} {said[p_better]} ({horizon})")
        if p_better is True and guard_ok and variant not in storm:
            ship_arms.append(variant)
    if harm:
        rest = [r for r in reasons if "significantly worse" not in r]  # said in ``harm``
        return DecisionInfo(decision="stop for harm", horizon=horizon, reasons=harm + rest)
    if storm:
        return DecisionInfo(decision="don't ship", horizon=horizon, reasons=reasons)
    if ship_arms:
        return DecisionInfo(decision="ship", horizon=horizon, reasons=reasons)
    return DecisionInfo(
        decision="keep running" if interim else "don't ship", horizon=horizon, reasons=reasons
    )
