"""Daily cumulative series of each effect, from the window's events kept by the unit-table scan.

The statistics of "everything up to day d" are Σ_i Q(x_i(d)) for a few per-unit quantities Q
(v and v vᵀ of the metric variables), where x_i(d) is unit i's cumulative value at d. Writing each
unit's history as its active days only, Σ_i Q(x_i(d)) = Σ over unit-days up to d of
ΔQ = Q(after that day) − Q(before it): the sums telescope. So one pass over the days (≤ the
window's length, a NumPy step each) that keeps every unit's cumulative vector and touches only
the units with events that day gives ΔQ per (variant, day); a cumulative sum over the days gives
every day's sufficient statistics. A unit enters on its first-exposure day (ΔQ includes its
pre-period covariates then), so n also grows day by day.

All metrics share one Gram matrix per (variant, day) over the distinct variables they use
(window variables W: clicks, 1[orders > 0], capped GMV…; constant-per-unit variables P: the
pre-period covariates and 1). With a = W after the day and b = W before it (b = 0 on entry):
Δ(W Wᵀ) = ½ (DSᵀ + SDᵀ) with D = a − b, S = a + b (exact for integer counts), Δ(W Pᵀ) = D Pᵀ,
and P Pᵀ changes only on entry. That is two matrix products per block of changed units instead
of a second scan of the events grouped by unit × day and an SQL window (a sort) over those rows:
on 1M users ≈ 1 s instead of 7–13 s, on 10M ≈ 9 s of a 41 s scorecard (the SQL version spilled).

One cap rule: every point of a winsorized metric uses the cap an ``as_of`` run of that day
computes (``winsorize_caps`` over the units exposed by then, :func:`daily_caps`), so a point
equals the scorecard ``--as-of`` that day for every metric (tested to 1e-9 on every day × metric).
Early days have fewer, more active units: on the issue's log gmv_per_user's cap was 887.72 on day 1
and 528.55 at the end, and the final cap moved early points by 25–33 %. The Gram matrix clips at
the widest of the days' caps, which telescopes like any variable; each day then corrects the few
units its narrower cap reaches (cumulative value or covariate outside the narrowest cap: 0.1 % of
the benchmark log's 900k units at q = 0.999), found with a per-unit flag updated only for the
day's changed units: 0.04 s more than one cap for every day on those 900k units (of ≈ 2 s).
A unit exposed to both arms after day d is out of the run but in an ``as_of`` run of day d:
the series, which holds the run's units, differs from that scorecard by such units only.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from shoplab.analysis.metrics import Metric
from shoplab.analysis.reduce import Caps, cumulative_caps
from shoplab.analysis.rows import effect_fields
from shoplab.analysis.scorecard import DailyPoint
from shoplab.analysis.stats import SufficientStatistic
from shoplab.analysis.unit_scan import EventChunk, WindowEvents
from shoplab.analysis.variables import ONE, Cap, metric_variables, variables_array

__all__ = ["DailyStatistics", "daily_caps", "daily_points", "daily_statistics", "metric_variables"]

_EMPTY: Final[dict[str, NDArray[np.float64]]] = {}

_BLOCK_ROWS: Final = 1 << 14
"""Changed units per matrix product. Small blocks keep the ≈ 25 temporaries per row (3 MB) in
cache and let malloc recycle them: with 1M-row blocks each block faulted in fresh pages and the
series took 3.2 s instead of 2.1 s on 3M units (half of it system time)."""


def _blocks(lo: int, hi: int) -> list[slice]:
    return [slice(s, min(s + _BLOCK_ROWS, hi)) for s in range(lo, hi, _BLOCK_ROWS)]


def _sums(
    at: NDArray[np.int64], values: NDArray[np.generic] | None, n: int
) -> NDArray[np.int64] | NDArray[np.float64]:
    """Per-slot sums of one column's events; 0/1 flags count the flagged events.

    ``bincount`` over the concatenated day (≈ 10 % faster here on 3M units than ``np.add.at``
    per chunk, which ``analysis.unit_scan.add_events`` uses over all units).
    """
    if values is None:
        return np.bincount(at, minlength=n)
    if values.dtype == np.int8:
        return np.bincount(at[values != 0], minlength=n)
    return np.bincount(at, weights=values, minlength=n)


def _day_increments(
    day: dict[str, list[EventChunk]],
    columns: Sequence[str],
    entering: Sequence[slice],
    mask: NDArray[np.bool_],
    slot: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(changed units in ascending order, their increments (columns × changed)) for one day.

    ``mask`` (all False on entry and on return) and ``slot`` are per-unit scratch arrays: a
    scatter and ``flatnonzero`` find the changed units without sorting the day's events.
    """
    for chunks in day.values():
        for ch in chunks:
            mask[ch.units] = True
    for s in entering:
        mask[s] = True
    changed = np.flatnonzero(mask)
    mask[changed] = False
    slot[changed] = np.arange(changed.size)
    inc = np.zeros((len(columns), changed.size))
    for chunks in day.values():
        at = slot[np.concatenate([ch.units for ch in chunks])]
        for c, first in chunks[0].values.items():
            if c in columns:
                vals = None if first is None else np.concatenate([ch.values[c] for ch in chunks])
                row = inc[columns.index(c)]
                np.add(row, _sums(at, vals, changed.size), out=row)
    return changed, inc


class DailyStatistics(NamedTuple):
    """Cumulative sufficient statistics per day, and the window totals they end at."""

    days: list[date]
    stats: dict[str, dict[str, list[SufficientStatistic]]]
    """{variant: {metric: [statistic of everything up to days[d]]}}."""
    window: NDArray[np.float64]
    """(columns × units) each unit's window totals (= ``analysis.unit_scan.window_totals``): the
    unit table's window columns, for free."""


def daily_caps(events: WindowEvents, metrics: Sequence[Metric]) -> list[Caps]:
    """Per day, the caps ``winsorize_caps`` gives over the units exposed by the end of that day.

    The last day's are the run's own caps (same units, same pre-period values).
    """
    n_days = len(events.days)
    out: list[Caps] = [{} for _ in range(n_days)]
    for m in metrics:
        if m.winsorize_quantile is None:
            continue
        pre = events.pre[events.columns.index(m.numerator)]
        by_day = cumulative_caps(pre, events.first_day, n_days, m.winsorize_quantile)
        for d, cap in enumerate(by_day):
            out[d][m.name] = cap
    return out


class _CapPlan(NamedTuple):
    """How one winsorized metric's per-day caps enter the series (see the module docstring)."""

    metric: int
    """Index into ``metrics``."""
    column: int
    """Index of the capped unit column in ``events.columns``."""
    widest: Cap | None
    """The band the Gram matrix clips at (None: some day is not winsorized, so no clip)."""
    narrowest: Cap
    """A unit whose cumulative value and covariate are inside it is clipped alike on every day."""
    bands: list[Cap]
    """Per day: the day's band ((−inf, inf) where the day is not winsorized)."""


_NO_BAND: Final[Cap] = (-np.inf, np.inf)


def _cap_plans(
    metrics: Sequence[Metric], caps: Sequence[Caps], columns: Sequence[str]
) -> list[_CapPlan]:
    plans = []
    for i, m in enumerate(metrics):
        days = [c.get(m.name) for c in caps]
        if all(b is None for b in days):
            continue
        bands = [b if b is not None else _NO_BAND for b in days]
        lo = [b[0] for b in bands]
        hi = [b[1] for b in bands]
        widest = (min(lo), max(hi))
        plans.append(
            _CapPlan(
                i,
                columns.index(m.numerator),
                None if widest == _NO_BAND else widest,
                (max(lo), min(hi)),
                bands,
            )
        )
    return plans


def _band_gram(
    x: NDArray[np.float64],
    pre: NDArray[np.float64],
    variant: NDArray[np.int16],
    n_var: int,
    band: Cap,
    widest: Cap,
) -> NDArray[np.float64]:
    """Per variant, Σ q qᵀ at ``band`` − at ``widest`` over these units; q = (value, pre, 1)."""
    w_d, w_r = np.clip(x, *band), np.clip(x, *widest)
    p_d, p_r = np.clip(pre, *band), np.clip(pre, *widest)
    terms = {
        (0, 0): w_d * w_d - w_r * w_r,
        (0, 1): w_d * p_d - w_r * p_r,
        (1, 1): p_d * p_d - p_r * p_r,
        (0, 2): w_d - w_r,
        (1, 2): p_d - p_r,
    }
    out = np.zeros((n_var, 3, 3))
    for (j, k), t in terms.items():
        out[:, j, k] = out[:, k, j] = np.bincount(variant, weights=t, minlength=n_var)[:n_var]
    return out


def daily_statistics(
    events: WindowEvents,
    metrics: Sequence[Metric],
    caps: Sequence[Caps] | None = None,
) -> DailyStatistics:
    """Cumulative sufficient statistics per day of every metric and variant.

    Args:
        events: from ``analysis.unit_scan.scan_units`` (or ``build_units(..., keep_events=True)``).
        metrics: the metrics.
        caps: per day, the winsorization caps of that day (default :func:`daily_caps`, the caps
            an ``as_of`` run of the day computes).
    """
    columns = list(events.columns)
    day_caps = list(caps) if caps is not None else daily_caps(events, metrics)
    plans = _cap_plans(metrics, day_caps, columns)
    ref_caps = {metrics[p.metric].name: p.widest for p in plans}
    per_metric = [metric_variables(m, ref_caps.get(m.name)) for m in metrics]
    wvars = list(dict.fromkeys(v for vs in per_metric for v in vs if v[0] == "window"))
    pvars = [*dict.fromkeys(v for vs in per_metric for v in vs if v[0] == "pre"), ONE]
    pcols = sorted({v[2] for v in pvars if v[0] == "pre"})
    index = {v: i for i, v in enumerate([*wvars, *pvars])}
    kw, k = len(wvars), len(wvars) + len(pvars)
    one = index[ONE]
    n_days, n_var = len(events.days), len(events.variant_keys)
    n_units = events.variant.shape[0]
    # units are in (variant, first day) order: entry[v, d] is the first position of variant v
    # with first day >= d, so the units entering on day d are entry[v, d]..entry[v, d + 1]
    first_of = np.searchsorted(events.variant, np.arange(n_var + 1))
    entry = np.zeros((n_var, n_days + 1), dtype=np.int64)
    for v in range(n_var):
        days_v = events.first_day[first_of[v] : first_of[v + 1]]
        entry[v] = first_of[v] + np.searchsorted(days_v, np.arange(n_days + 1))

    gram = np.zeros((n_days, n_var, k, k))
    state = np.zeros((len(columns), n_units))  # each unit's cumulative window columns
    mask = np.zeros(n_units, dtype=bool)
    slot = np.zeros(n_units, dtype=np.int64)
    # per capped metric: units whose value or covariate some day's cap may clip differently
    # from the widest cap, and per day the correction of the Gram matrix at that day's cap
    reach = [np.zeros(n_units, dtype=bool) for _ in plans]
    fix = np.zeros((len(plans), n_days, n_var, 3, 3))
    Rows = dict[str, NDArray[np.float64]]

    def advance(
        d: int, changed: NDArray[np.int64], inc: NDArray[np.float64]
    ) -> tuple[int, NDArray[np.int64], Rows, Rows]:
        """Moves ``state`` over day d: the changed units' columns before / after it."""
        before = {c: state[i].take(changed) for i, c in enumerate(columns)}
        after = {c: np.add(before[c], inc[i], out=inc[i]) for i, c in enumerate(columns)}
        for i, c in enumerate(columns):
            state[i].put(changed, after[c])
        for j, p in enumerate(plans):
            band = p.bands[d]
            lo, hi = p.narrowest
            x, pre = after[columns[p.column]], events.pre[p.column].take(changed)
            reach[j][changed] = (x < lo) | (x > hi) | (pre < lo) | (pre > hi)
            if band != (p.widest or _NO_BAND):
                at = np.flatnonzero(reach[j])
                fix[j, d] = _band_gram(
                    state[p.column].take(at),
                    events.pre[p.column].take(at),
                    events.variant.take(at),
                    n_var,
                    band,
                    p.widest or _NO_BAND,
                )
        return d, changed, before, after

    def accumulate(d: int, changed: NDArray[np.int64], before: Rows, after: Rows) -> None:
        """gram[d] = ΔQ of day d per variant."""
        pre = {c: events.pre[columns.index(c)].take(changed) for c in pcols}
        # per variant v, changed[first[v]:fresh[v]] were in before today and
        # changed[fresh[v]:end[v]] enter today (every entering unit is in ``changed``)
        first = np.searchsorted(changed, entry[:, 0])
        fresh = np.searchsorted(changed, entry[:, d])
        end = np.searchsorted(changed, entry[:, d + 1])
        for v in range(n_var):
            g = gram[d, v]
            for blk in _blocks(int(first[v]), int(fresh[v])):
                wa = variables_array(after, _EMPTY, wvars, blk)
                wb = variables_array(before, _EMPTY, wvars, blk)
                p = variables_array(_EMPTY, pre, pvars, blk)
                dw = wa - wb
                sw = np.add(wa, wb, out=wa)
                ww = dw @ sw.T
                g[:kw, :kw] += (ww + ww.T) / 2
                wp = dw @ p.T
                g[:kw, kw:] += wp
                g[kw:, :kw] += wp.T
            for blk in _blocks(int(fresh[v]), int(end[v])):
                x = np.vstack(
                    [
                        variables_array(after, _EMPTY, wvars, blk),
                        variables_array(_EMPTY, pre, pvars, blk),
                    ]
                )
                g += x @ x.T  # Q before entry is 0: ΔQ = Q(after), covariates included

    # A three-stage pipeline over the days on the 2 cores: this thread sums day d + 1's events
    # per unit (bincount holds the GIL) while one worker moves the state over day d and another
    # accumulates day d − 1's Gram matrices (take/put, ufuncs and BLAS release the GIL). On 10M
    # units: 11.2 s with two stages (events + state in one), ≈ 8 s with three.
    with ThreadPoolExecutor(1) as mover, ThreadPoolExecutor(1) as reducer:
        moved: Future[tuple[int, NDArray[np.int64], Rows, Rows]] | None = None
        reduced: list[Future[None]] = []
        for d in range(n_days + 1):
            day = None
            if d < n_days:
                entering = [slice(entry[v, d], entry[v, d + 1]) for v in range(n_var)]
                day = _day_increments(events.by_day[d], columns, entering, mask, slot)
            if moved is not None:
                reduced.append(reducer.submit(accumulate, *moved.result()))
            moved = mover.submit(advance, d, *day) if day is not None else None
            del day
            while len(reduced) > 1:  # at most two days of rows in flight (memory)
                reduced.pop(0).result()
        for f in reduced:
            f.result()
    gram = np.cumsum(gram, axis=0)
    fixes = {p.metric: fix[j] for j, p in enumerate(plans)}
    to_q = [0, 2, 1, 2]  # (num, den = 1, pre_num, pre_den = 1) → rows of q = (value, pre, 1)

    out: dict[str, dict[str, list[SufficientStatistic]]] = {}
    for v, key in enumerate(events.variant_keys):
        g = gram[:, v]
        out[key] = {}
        for i, (m, vs) in enumerate(zip(metrics, per_metric, strict=True)):
            ix = [index[x] for x in vs]
            sums = g[:, one][:, ix]  # Σ v = Σ v · 1
            sp = g[:, ix][:, :, ix]
            if i in fixes:  # the day's cap instead of the widest (not cumulative: per day)
                f = fixes[i][:, v][:, to_q][:, :, to_q]
                sums = sums + fixes[i][:, v, 2][:, to_q]
                sp = sp + f
            out[key][m.name] = [
                SufficientStatistic(np.asarray(g[d, one, one]), sums[d].copy(), sp[d].copy())
                for d in range(n_days)
            ]
    return DailyStatistics(list(events.days), out, state)


def daily_points(
    series: DailyStatistics,
    metrics: Sequence[Metric],
    variant_keys: Sequence[str],
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> list[DailyPoint]:
    """The daily series of every metric × treatment variant, as scorecard points."""
    days, stats = series.days, series.stats
    control = variant_keys[0]
    points: list[DailyPoint] = []
    empty = SufficientStatistic.from_units(np.zeros((0, 4)))
    for vk in variant_keys[1:]:
        for m in metrics:
            for d, day in enumerate(days):
                c = stats.get(control, {}).get(m.name, [empty] * len(days))[d]
                t = stats.get(vk, {}).get(m.name, [empty] * len(days))[d]
                f = effect_fields(m, c, t, cuped=cuped, alpha=alpha, tuning_n=tuning_n)
                points.append(
                    DailyPoint(
                        metric=m.name,
                        variant=vk,
                        day=day,
                        status=f["status"],
                        n_control=f["n_control"],
                        n_treatment=f["n_treatment"],
                        abs_effect=f.get("abs_effect"),
                        abs_ci_lower=f.get("abs_ci_lower"),
                        abs_ci_upper=f.get("abs_ci_upper"),
                        cs_lower=f.get("cs_lower"),
                        cs_upper=f.get("cs_upper"),
                        pvalue=f.get("pvalue"),
                    )
                )
    return points
