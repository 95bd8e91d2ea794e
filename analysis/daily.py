"""Daily cumulative series of each effect, from one SQL pass over unit-day rows.

The statistics of "everything up to day d" are Σ_i Q(x_i(d)) for a few per-unit quantities Q
(v and v vᵀ of the metric variables), where x_i(d) is unit i's cumulative value at d. Writing each
unit's history as its active days only, Σ_i Q(x_i(d)) = Σ over unit-day rows with day <= d of
ΔQ = Q(after that row) − Q(before it): the sums telescope. So one windowed pass over the sparse
unit-day table (≈ active unit-days, not units × days) gives ΔQ per (variant, day) and a cumulative
sum over ≤ 30 days gives every day's sufficient statistics. A unit enters on its first-exposure
day (ΔQ includes its pre-period covariates then), so n also grows day by day.

Every point uses the final run's winsorization caps (a quantile over all of the run's units), so
a point of a winsorized metric can differ slightly from a separate ``as_of`` run of that day,
whose cap is computed over fewer units; unwinsorized metrics agree exactly (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import duckdb
import numpy as np

from analysis.metrics import Metric
from analysis.scorecard import DailyPoint
from analysis.stats import SufficientStatistic
from analysis.units import _COLUMN_SQL, UnitQuery, _day_files, _lit, _ts, metric_sql

__all__ = ["daily_points", "daily_statistics"]

_PAIRS = [(j, k) for j in range(4) for k in range(j, 4)]
_US_PER_DAY = 86_400_000_000


def daily_statistics(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    metrics: Sequence[Metric],
    caps: dict[str, tuple[float, float] | None],
    table: str = "units",
) -> tuple[list[Any], dict[str, dict[str, list[SufficientStatistic]]]]:
    """Cumulative sufficient statistics per day: (days, {variant: {metric: [stat per day]}}).

    Needs the unit table ``table`` built by ``build_unit_table`` (for variants and covariates).
    """
    wend = _ts(q.window_end)
    cols = q.columns
    by_table: dict[str, list[str]] = {}
    for c in cols:
        by_table.setdefault(_COLUMN_SQL[c][0], []).append(c)
    zero = ", ".join(f"0::DOUBLE AS {c}" for c in cols)
    # days as integers since the epoch: TIMESTAMPTZ::DATE goes through ICU time zones (slow)
    day0 = int(q.start.timestamp()) // 86_400
    parts = [f"SELECT unit_id, epoch_us(first_ts) // {_US_PER_DAY} AS day, {zero} FROM {table}"]
    for tname, tcols in by_table.items():
        files = _day_files(tname, q.start.date(), q.window_end.date())
        if not files:
            continue
        sel = ", ".join(
            f"sum({_COLUMN_SQL[c][1]})::DOUBLE AS {c}" if c in tcols else f"0::DOUBLE AS {c}"
            for c in cols
        )
        join = (
            "JOIN items_t it ON it.item_id = e.item_id" if "new_item_impressions" in tcols else ""
        )
        parts.append(
            f"SELECT e.user_id AS unit_id, epoch_us(e.ts) // {_US_PER_DAY} AS day, {sel} "
            f"FROM read_parquet({_lit(files)}) e JOIN {table} u ON u.unit_id = e.user_id {join} "
            f"WHERE e.ts >= u.first_ts AND e.ts < {wend} GROUP BY ALL"
        )
    sums = ", ".join(f"sum({c}) AS {c}" for c in cols)
    # cumulative state after the row (c) and before it (p_c = c − the row's increment): no lag
    cum = ", ".join(f"sum(d.{c}) OVER w AS {c}, sum(d.{c}) OVER w - d.{c} AS p_{c}" for c in cols)
    pre = ", ".join(f"u.pre_{c}" for c in cols)
    deltas = []
    for i, m in enumerate(metrics):
        now = metric_sql(m, caps.get(m.name))
        before = metric_sql(m, caps.get(m.name), prefix="p_")
        for j in range(4):
            # pre-period variables are constant per unit (before == now for them): they enter
            # once, on the unit's first row, through the CASE
            deltas.append(
                f"sum(CASE WHEN first THEN {now[j]} ELSE ({now[j]}) - ({before[j]}) END)"
                f" AS m{i}_s{j}"
            )
        for j, k in _PAIRS:
            a, b = f"({now[j]}) * ({now[k]})", f"({before[j]}) * ({before[k]})"
            deltas.append(f"sum(CASE WHEN first THEN {a} ELSE {a} - {b} END) AS m{i}_p{j}{k}")
    sql = f"""
        WITH inc AS (
            SELECT unit_id, day, {sums} FROM ({" UNION ALL ".join(parts)}) GROUP BY ALL
        ),
        u AS (  -- narrow build side for the join: ≈ 10 columns instead of the whole unit row
            SELECT unit_id, variant, epoch_us(first_ts) // {_US_PER_DAY} AS first_day,
                   {", ".join(f"pre_{c}" for c in cols)}
            FROM {table}
        ),
        cumu AS (
            SELECT d.unit_id, d.day, u.variant, d.day = u.first_day AS first, {pre}, {cum}
            FROM inc d JOIN u USING (unit_id)
            WINDOW w AS (PARTITION BY d.unit_id ORDER BY d.day)
        )
        SELECT variant, day - {day0} AS day_idx,
               sum(first::DOUBLE) AS n, {", ".join(deltas)}
        FROM cumu GROUP BY ALL
    """
    res = con.execute(sql).fetchnumpy()
    last_day = (q.window_end - timedelta(microseconds=1)).date()
    days = [q.start.date() + timedelta(days=i) for i in range((last_day - q.start.date()).days + 1)]
    variants = sorted({str(v) for v in res["variant"]})
    out: dict[str, dict[str, list[SufficientStatistic]]] = {}
    for v in variants:
        mask = np.array([str(x) == v for x in res["variant"]])
        idx = np.asarray(res["day_idx"][mask], dtype=int)
        n = np.zeros(len(days))
        np.add.at(n, idx, res["n"][mask])
        n = np.cumsum(n)
        out[v] = {}
        for i, m in enumerate(metrics):
            acc = np.zeros((len(days), 4))
            sp = np.zeros((len(days), 4, 4))
            for j in range(4):
                np.add.at(acc[:, j], idx, res[f"m{i}_s{j}"][mask])
            for j, k in _PAIRS:
                np.add.at(sp[:, j, k], idx, res[f"m{i}_p{j}{k}"][mask])
                if j != k:
                    sp[:, k, j] = sp[:, j, k]
            acc, sp = np.cumsum(acc, axis=0), np.cumsum(sp, axis=0)
            out[v][m.name] = [SufficientStatistic(n[d], acc[d], sp[d]) for d in range(len(days))]
    return days, out


def daily_points(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    metrics: Sequence[Metric],
    caps: dict[str, tuple[float, float] | None],
    variant_keys: Sequence[str],
    *,
    cuped: bool,
    alpha: float,
    tuning_n: int,
) -> list[DailyPoint]:
    """The daily series of every metric × treatment variant, as scorecard points."""
    from analysis.engine import effect_row_fields  # late: engine imports this module

    days, stats = daily_statistics(con, q, metrics, caps)
    control = variant_keys[0]
    points: list[DailyPoint] = []
    empty = SufficientStatistic.from_units(np.zeros((0, 4)))
    for vk in variant_keys[1:]:
        for m in metrics:
            for d, day in enumerate(days):
                c = stats.get(control, {}).get(m.name, [empty] * len(days))[d]
                t = stats.get(vk, {}).get(m.name, [empty] * len(days))[d]
                f = effect_row_fields(m, c, t, cuped=cuped, alpha=alpha, tuning_n=tuning_n)
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
