"""Unit table → sufficient statistics, in SQL: only n, Σv and Σvvᵀ leave the database.

Also the winsorization caps, which are quantiles of the same table's pre-period columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
from numpy.typing import NDArray

from shoplab.analysis.metrics import Metric
from shoplab.analysis.stats import SufficientStatistic
from shoplab.analysis.variables import Cap, metric_sql

__all__ = [
    "NO_LOWER_CAP",
    "Caps",
    "StatisticsTable",
    "cap_from_quantiles",
    "cumulative_caps",
    "reduce_statistics",
    "winsorize_caps",
]

NO_LOWER_CAP = -1.7976931348623157e308
"""The lower bound of a one-sided cap: the smallest double (DuckDB's SQL has no −inf literal)."""

Caps = dict[str, Cap | None]
"""Metric name → its winsorization cap (None: not winsorized)."""
StatisticsTable = dict[tuple[str, str | None], dict[str, SufficientStatistic]]
"""(variant, segment value) → metric name → sufficient statistic."""


def winsorize_caps(
    con: duckdb.DuckDBPyConnection, metrics: Sequence[Metric], table: str = "units"
) -> Caps:
    """Caps (lower, upper) per winsorized metric from the pre-period distribution over units.

    The upper cap is the ``winsorize_quantile`` of the unit's pre-period value; the lower cap is
    the (1 − q) quantile when that is negative (refund-heavy units), else no lower cap (−inf is
    written as the smallest double). ``None`` when the pre-period has no variation (no history)
    or the upper quantile is ≤ 0: then the metric is not winsorized (``winsorize_cap`` is null in
    the scorecard row).

    The cap is an absolute per-unit value from the ``pre_days`` pre-period; applied to a longer
    analysis window it trims somewhat more than 1 − q of units (on the benchmark's synthetic log,
    the 7-day 99.9th-percentile cap touches 0.20 % of units over 14 days). Both arms get the
    same cap, so the comparison stays unbiased for the winsorized metric.
    """
    caps: Caps = {}
    for m in metrics:
        if m.winsorize_quantile is None:
            continue
        qv = m.winsorize_quantile
        row = con.execute(
            f"SELECT quantile_cont(pre_{m.numerator}, {1 - qv}), "
            f"quantile_cont(pre_{m.numerator}, {qv}), "
            f"min(pre_{m.numerator}), max(pre_{m.numerator}) FROM {table}"
        ).fetchall()[0]  # fetchall: DuckDB 2 keeps a fetchone() result open on the connection
        caps[m.name] = cap_from_quantiles(*row) if row is not None else None
    return caps


def cap_from_quantiles(
    lower_q: float | None, upper_q: float | None, vmin: float | None, vmax: float | None
) -> Cap | None:
    """The cap rule of :func:`winsorize_caps` from the two quantiles and the range of the values.

    Example:
        >>> cap_from_quantiles(-3.0, 90.0, -8.0, 400.0)
        (-3.0, 90.0)
        >>> cap_from_quantiles(0.0, 90.0, 0.0, 400.0) == (NO_LOWER_CAP, 90.0)
        True
        >>> cap_from_quantiles(0.0, 0.0, 0.0, 5.0) is None  # fewer than 1 − q units above 0
        True
    """
    # no units, no history, or fewer than 1 − q of units with positive pre-period values (the
    # quantile is then ≤ 0 and would flatten every unit to 0): do not winsorize
    if lower_q is None or upper_q is None or vmin == vmax or upper_q <= 0:
        return None
    return (float(lower_q) if lower_q < 0 else NO_LOWER_CAP, float(upper_q))


def _interpolate(sorted_values: NDArray[np.float64], h: float) -> float:
    """DuckDB's ``quantile_cont`` at position h of ascending values: lo + (hi − lo) · frac."""
    lo = int(np.floor(h))
    hi = min(lo + 1, sorted_values.size - 1)
    v_lo, v_hi = float(sorted_values[lo]), float(sorted_values[hi])
    return v_lo if h == lo else v_lo + (v_hi - v_lo) * (h - lo)


def _smallest_by_group(
    values: NDArray[np.float64], group: NDArray[np.integer], need: NDArray[np.int64]
) -> list[NDArray[np.float64]]:
    """For each d, the ``need[d]`` smallest values among ``values[group <= d]``, ascending.

    A pool of the M smallest values overall holds them as soon as it holds ``need[d]`` units
    of group ≤ d (a unit outside the pool is ≥ every pool value), so one ``argpartition`` and a
    sort of M values do instead of a quantile per day over all of its units; M grows ×4 until
    every day is covered (once on the benchmark logs: M = 4 · max(need), 0.5 % of the units).
    """
    n = values.size
    m = min(n, max(4 * int(need.max(initial=0)), 1024))
    while True:
        pool = np.argpartition(values, m - 1)[:m] if m < n else np.arange(n)
        pool = pool[np.argsort(values[pool], kind="stable")]
        pv, pg = values[pool], group[pool]
        out = [pv[pg <= d][: int(k)] for d, k in enumerate(need)]
        if m == n or all(o.size == k for o, k in zip(out, need, strict=True)):
            return out
        m = min(n, 4 * m)


def cumulative_caps(
    values: NDArray[np.float64], group: NDArray[np.integer], n_groups: int, quantile: float
) -> list[Cap | None]:
    """The caps of :func:`winsorize_caps` over the units of group ≤ d, for every d.

    The daily series needs, for each day d, the cap an ``as_of`` run of day d computes: the
    quantile over the units exposed by then (``group`` = first-exposure day). Exact order
    statistics of both tails (``_smallest_by_group``), interpolated as DuckDB does.

    Example:
        >>> v = np.array([0.0, 0.0, 10.0, 0.0, 50.0, 2.0])
        >>> cumulative_caps(v, np.array([0, 0, 0, 1, 1, 1]), 2, 0.9)[0][1]  # 0.9 of 0, 0, 10
        8.0
    """
    v = np.asarray(values, dtype=np.float64)
    n_d = np.cumsum(np.bincount(group, minlength=n_groups)[:n_groups])
    q_lo, q_hi = 1 - quantile, quantile  # as written in winsorize_caps' SQL
    h_lo, h_hi = (n_d - 1) * q_lo, (n_d - 1) * q_hi
    # ascending positions floor(h) and floor(h) + 1 of each tail, and the extremes
    need_lo = np.minimum(np.floor(h_lo).astype(np.int64) + 2, n_d)
    need_hi = np.minimum(n_d - np.floor(h_hi).astype(np.int64), n_d)
    bottom = _smallest_by_group(v, group, need_lo)
    top = _smallest_by_group(-v, group, need_hi)  # descending, negated
    caps: list[Cap | None] = []
    for d in range(n_groups):
        if n_d[d] == 0:
            caps.append(None)
            continue
        upper = -top[d][::-1]  # ascending positions n_d − need_hi .. n_d − 1
        offset = int(n_d[d] - upper.size)
        caps.append(
            cap_from_quantiles(
                _interpolate(bottom[d], float(h_lo[d])),
                _interpolate(upper, float(h_hi[d]) - offset),
                float(bottom[d][0]),
                float(upper[-1]),
            )
        )
    return caps


def reduce_statistics(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[Metric],
    caps: Caps,
    *,
    by: str | None = None,
    table: str = "units",
) -> StatisticsTable:
    """Sufficient statistics per (variant, segment value) and metric, in one SQL aggregate.

    Only n, Σv and Σvvᵀ over (num, den, pre_num, pre_den) leave the database.
    """
    aggs = ["count(*)::DOUBLE AS n"]
    for i, m in enumerate(metrics):
        e = metric_sql(m, caps.get(m.name))
        for j in range(4):
            aggs.append(f"sum({e[j]})::DOUBLE AS m{i}_s{j}")
        for j in range(4):
            for k in range(j, 4):
                aggs.append(f"sum(({e[j]}) * ({e[k]}))::DOUBLE AS m{i}_p{j}{k}")
    seg = f", {by}" if by else ""
    rows: dict[str, Any] = con.execute(
        f"SELECT variant{seg}, {', '.join(aggs)} FROM {table} GROUP BY ALL"
    ).fetchnumpy()
    out: StatisticsTable = {}
    for r in range(len(rows["n"])):
        key = (str(rows["variant"][r]), str(rows[by][r]) if by else None)
        stats: dict[str, SufficientStatistic] = {}
        for i, m in enumerate(metrics):
            sums = np.array([rows[f"m{i}_s{j}"][r] for j in range(4)], dtype=np.float64)
            sp = np.zeros((4, 4))
            for j in range(4):
                for k in range(j, 4):
                    sp[j, k] = sp[k, j] = rows[f"m{i}_p{j}{k}"][r]
            stats[m.name] = SufficientStatistic(np.asarray(float(rows["n"][r])), sums, sp)
        out[key] = stats
    return out
