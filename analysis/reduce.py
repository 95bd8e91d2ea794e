"""Unit table → sufficient statistics, in SQL: only n, Σv and Σvvᵀ leave the database.

Also the winsorization caps, which are quantiles of the same table's pre-period columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np

from shoplab.analysis.metrics import Metric
from shoplab.analysis.stats import SufficientStatistic
from shoplab.analysis.variables import Cap, metric_sql

__all__ = ["Caps", "StatisticsTable", "reduce_statistics", "winsorize_caps"]

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
        # no history, or fewer than 1 − q of units with positive pre-period values (the quantile
        # is then ≤ 0 and would flatten every unit to 0): do not winsorize
        if row is None or row[1] is None or row[2] == row[3] or row[1] <= 0:
            caps[m.name] = None
            continue
        lo = float(row[0]) if row[0] < 0 else -1.7976931348623157e308
        caps[m.name] = (lo, float(row[1]))
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
