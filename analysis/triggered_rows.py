"""Triggered analysis in SQL: triggered units from their first triggered request, diluted back.

``analysis.triggered`` states the estimator on per-unit arrays; this module computes the same
numbers from ``events/triggers`` and the event log in DuckDB, for every metric of a scorecard
(``analyze(..., triggered=True)``), down to sufficient statistics per (arm, triggered): count,
mean, sample variances and covariances (DuckDB's ``var_samp`` / ``covar_samp``, numerically the
same as NumPy's two-pass ``var(ddof=1)``).

Who is triggered, and from when: a unit (from the scorecard's ``unit_base``: first exposure, no
arm switchers) is triggered at its first ``triggers`` row with ``triggered`` in the window; its
metrics count events at or after that instant (and at or after its first exposure). Before it, the
unit saw the same lists in both arms, so those events only add noise. Untriggered units keep
their whole window (the untriggered estimate on all units reads them).

Mean and proportion metrics: Deng & Hu's dilution with the pooled trigger rate r
(``analysis.triggered``): Δ_all = r·Δ_trig, Var ≈ r²·Var(Δ_trig) + Δ_trig²·r(1 − r)/N.

Ratio metrics (CTR = clicks / impressions), the choice made here: a ratio of per-user sums over
the population is a denominator-weighted mean of the per-unit ratios, so its untriggered units
(same lists in both arms) dilute the triggered effect by their share of the *denominator*, not of
the units: with s = Σ_trig den / Σ_all den (pooled over arms),

    CTR_T − CTR_C ≈ s · (CTR_T,trig − CTR_C,trig),

assuming the treatment does not move the denominator (impressions per request are fixed by the
slate; a treatment that changes how many impressions a triggered user gets breaks this, and then
the untriggered row is the one to read). Δ_trig is the delta-method difference of ratios among
triggered units (the engine's ratio test), and Var(s) the delta method on the ratio of sums
s = mean(den·t) / mean(den) with population moments, which for den ≡ 1 is exactly r(1 − r)/N:
the unit-share rule is the special case of the denominator-share rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import duckdb
import numpy as np
from scipy import stats as sps

from shoplab.analysis.metrics import Metric
from shoplab.analysis.scorecard import TriggeredRow
from shoplab.analysis.unit_query import (
    COLUMN_SQL,
    EventTableMissingError,
    UnitQuery,
    event_files,
    event_joins,
    files_sql,
    tables_of,
    ts_sql,
)
from shoplab.core import paths

__all__ = ["TRIGGER_TABLE", "build_triggered_units", "triggered_rows"]

TRIGGER_TABLE: Final = "trig_units"
"""The temp table of one row per unit: ``unit_id, variant, triggered, from_ts`` and its columns."""


def build_triggered_units(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    columns: Sequence[str],
    base: str = "unit_base",
    units: str | None = None,
) -> int:
    """Temp table :data:`TRIGGER_TABLE` over the units of ``base``; returns the triggered units.

    ``units``: the scorecard's unit table (window sums per unit from first exposure, ``columns``
    among its columns). Given, an untriggered unit's values are read from it (they are the same
    sums) and only the triggered units' events are aggregated again: ≈ 20 % of the rows into the
    GROUP BY instead of all of them. Without it (a bare ``base``), every unit is aggregated.

    Raises:
        EventTableMissingError: no ``triggers`` files, or no rows of the experiment in its window
            (the message names the experiment).
    """
    files = event_files("triggers", q.start.date(), q.window_end.date())
    where = f"experiment = $experiment AND ts >= {ts_sql(q.start)} AND ts < {ts_sql(q.window_end)}"
    if not files:
        raise EventTableMissingError(
            f"experiment == {q.experiment!r}: events table 'triggers' has no Parquet files under "
            f"{paths.events_dir('triggers')}, must hold the counterfactual trigger of every "
            "request for a triggered analysis."
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE trig_first AS
        SELECT user_id AS unit_id, min(ts) FILTER (WHERE triggered) AS trig_ts
        FROM read_parquet({files_sql(files)}) WHERE {where} GROUP BY user_id
        """,
        {"experiment": q.experiment},
    )
    if not con.execute("SELECT count(*) FROM trig_first").fetchall()[0][0]:
        raise EventTableMissingError(
            f"experiment == {q.experiment!r}: no rows in events table 'triggers' for it in "
            f"[{q.start.isoformat()}, {q.window_end.isoformat()}), must have one per request "
            "for a triggered analysis (does serving log its counterfactual trigger?)."
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE trig_base AS
        SELECT b.unit_id, b.variant, t.trig_ts IS NOT NULL AS triggered,
               CASE WHEN t.trig_ts IS NULL THEN b.first_ts
                    ELSE greatest(b.first_ts, t.trig_ts) END AS from_ts
        FROM {base} b LEFT JOIN trig_first t USING (unit_id)
        """
    )
    joins = event_joins(con, q, columns)
    selects, froms = ["u.unit_id", "u.variant", "u.triggered"], ["FROM trig_base u"]
    scanned = "(SELECT * FROM trig_base WHERE triggered)" if units else "trig_base"
    if units:
        froms.append(f"LEFT JOIN {units} w ON w.unit_id = u.unit_id")
    for i, (table, cols) in enumerate(tables_of(columns).items()):
        ev = event_files(table, q.start.date(), q.window_end.date())
        for c in cols:
            mine = f"coalesce(a{i}.{c}, 0)::DOUBLE"
            selects.append(
                f"CASE WHEN u.triggered THEN {mine} ELSE w.{c}::DOUBLE END AS {c}"
                if units
                else f"{mine} AS {c}"
            )
        if not ev:  # an absent fact table reads as no events (``analysis.unit_query``)
            froms.append(
                "LEFT JOIN (SELECT NULL::BIGINT AS unit_id, "
                + ", ".join(f"0.0 AS {c}" for c in cols)
                + f" WHERE false) a{i} ON a{i}.unit_id = u.unit_id"
            )
            continue
        sums = ", ".join(f"sum({COLUMN_SQL[c][1]}) AS {c}" for c in cols)
        froms.append(
            f"LEFT JOIN (SELECT u.unit_id, {sums} FROM read_parquet({files_sql(ev)}) e "
            f"JOIN {scanned} u ON e.user_id = u.unit_id {joins} "
            f"WHERE e.ts >= u.from_ts AND e.ts < {ts_sql(q.window_end)} GROUP BY u.unit_id) a{i} "
            f"ON a{i}.unit_id = u.unit_id"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {TRIGGER_TABLE} AS SELECT {', '.join(selects)} "
        + " ".join(froms)
    )
    got = con.execute(f"SELECT count(*) FILTER (WHERE triggered) FROM {TRIGGER_TABLE}").fetchall()
    return int(got[0][0])


class _Arm(NamedTuple):
    """Moments of one arm on one subset (all or triggered units): n, means, sample (co)vars."""

    n: int
    mean_num: float
    mean_den: float
    var_num: float
    var_den: float
    cov: float


def _arm_moments(
    con: duckdb.DuckDBPyConnection, y: str, den: str, variant: str, only_triggered: bool
) -> _Arm:
    where = "variant = $v" + (" AND triggered" if only_triggered else "")
    got = con.execute(
        f"SELECT count(*), avg({y}), avg({den}), var_samp({y}), var_samp({den}), "
        f"covar_samp({y}, {den}) FROM {TRIGGER_TABLE} WHERE {where}",
        {"v": variant},
    ).fetchall()[0]
    return _Arm(int(got[0]), *(float("nan") if v is None else float(v) for v in got[1:]))


def _ratio_diff(t: _Arm, c: _Arm, ratio: bool) -> tuple[float, float]:
    """(treatment − control, its standard error): Welch for means, delta method for ratios."""
    if not ratio:
        return t.mean_num - c.mean_num, float(np.sqrt(t.var_num / t.n + c.var_num / c.n))
    out = []
    for a in (t, c):
        r = a.mean_num / a.mean_den
        var = (a.var_num - 2 * r * a.cov + r * r * a.var_den) / (a.n * a.mean_den**2)
        out.append((r, var))
    (rt, vt), (rc, vc) = out
    return rt - rc, float(np.sqrt(max(vt + vc, 0.0)))


def _dilution(con: duckdb.DuckDBPyConnection, den: str, ratio: bool) -> tuple[float, float, int]:
    """(s, Var(s), N): the triggered share of units (means) or of the denominator (ratios)."""
    if not ratio:
        n, r = con.execute(
            f"SELECT count(*), avg(triggered::DOUBLE) FROM {TRIGGER_TABLE}"
        ).fetchall()[0]
        r = float(r)
        return r, r * (1 - r) / int(n), int(n)
    n, m_dt, m_d, v_dt, v_d, c_dtd = con.execute(
        f"SELECT count(*), avg({den} * triggered::INTEGER), avg({den}), "
        f"var_pop({den} * triggered::INTEGER), var_pop({den}), "
        f"covar_pop({den} * triggered::INTEGER, {den}) FROM {TRIGGER_TABLE}"
    ).fetchall()[0]
    s = float(m_dt) / float(m_d)
    var = (float(v_dt) - 2 * s * float(c_dtd) + s * s * float(v_d)) / (int(n) * float(m_d) ** 2)
    return s, max(var, 0.0), int(n)


def _value_sql(m: Metric) -> tuple[str, str]:
    """(per-unit numerator, denominator) expressions over :data:`TRIGGER_TABLE`'s columns."""
    if m.kind == "proportion":
        return f"({m.numerator} > 0)::DOUBLE", "1.0"
    if m.kind == "ratio" and m.denominator:
        return m.numerator, m.denominator
    return m.numerator, "1.0"


def triggered_rows(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[Metric],
    variant_keys: Sequence[str],
    *,
    alpha: float,
) -> list[TriggeredRow]:
    """One :class:`TriggeredRow` per metric × treatment, from :data:`TRIGGER_TABLE`."""
    z = float(sps.norm.ppf(1 - alpha / 2))
    control = variant_keys[0]
    out: list[TriggeredRow] = []
    for m in metrics:
        if m.kind == "concentration":
            continue
        num, den = _value_sql(m)
        ratio = m.kind == "ratio"
        dil = _dilution(con, den, ratio)
        for vk in variant_keys[1:]:
            out.append(_row(con, m, num, den, ratio, control, vk, dil, z))
    return out


def _row(
    con: duckdb.DuckDBPyConnection,
    m: Metric,
    num: str,
    den: str,
    ratio: bool,
    control: str,
    variant: str,
    dil: tuple[float, float, int],
    z: float,
) -> TriggeredRow:
    s, var_s, n_all = dil
    tt, tc = (_arm_moments(con, num, den, v, True) for v in (variant, control))
    at, ac = (_arm_moments(con, num, den, v, False) for v in (variant, control))
    head: dict[str, Any] = {
        "metric": m.name,
        "kind": m.kind,
        "variant": variant,
        "units": at.n + ac.n,
        "triggered_units": tt.n + tc.n,
        "trigger_rate": (tt.n + tc.n) / n_all if n_all else None,
        "dilution": s,
    }
    if min(tt.n, tc.n) < 2:
        return TriggeredRow(
            status="too_few_units", detail="fewer than 2 triggered units in an arm", **head
        )
    if ratio and min(tt.mean_den, tc.mean_den, at.mean_den, ac.mean_den) == 0:
        return TriggeredRow(status="zero_denominator", **head)
    d_t, se_t = _ratio_diff(tt, tc, ratio)
    d_i, se_i = _ratio_diff(at, ac, ratio)
    diluted = s * d_t
    se_d = float(np.sqrt(s * s * se_t * se_t + d_t * d_t * var_s))
    if not se_t > 0:
        return TriggeredRow(
            status="zero_variance",
            triggered_effect=d_t,
            diluted_effect=diluted,
            untriggered_effect=d_i,
            **head,
        )
    return TriggeredRow(
        status="ok",
        control_value=tc.mean_num / tc.mean_den if ratio else tc.mean_num,
        treatment_value=tt.mean_num / tt.mean_den if ratio else tt.mean_num,
        triggered_effect=d_t,
        triggered_se=se_t,
        triggered_ci_lower=d_t - z * se_t,
        triggered_ci_upper=d_t + z * se_t,
        pvalue=float(2 * sps.norm.sf(abs(d_t) / se_t)),
        diluted_effect=diluted,
        diluted_se=se_d,
        diluted_ci_lower=diluted - z * se_d,
        diluted_ci_upper=diluted + z * se_d,
        untriggered_effect=d_i,
        untriggered_se=se_i,
        untriggered_ci_lower=d_i - z * se_i,
        untriggered_ci_upper=d_i + z * se_i,
        width_ratio=se_d / se_i if se_i > 0 else None,
        **head,
    )
