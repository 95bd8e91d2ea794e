"""The units of a unit table: who was exposed (first exposure rule), their variant and attributes.

``unit_base`` is the temp table every unit table starts from: one row per unit that counts
(``unit_id, variant, first_ts, country, platform, user_type``). Both builds of the unit table —
the streamed scan and the pure SQL aggregate — join their events to it.
"""

from __future__ import annotations

import duckdb

from shoplab.analysis.unit_query import (
    NEW_USER_DAYS,
    EventTableMissingError,
    UnitQuery,
    all_files,
    event_files,
    files_sql,
    ts_sql,
)
from shoplab.core import paths
from shoplab.core.exposures import EMPTY_EXPOSURES_SQL, first_exposures_sql

__all__ = ["build_unit_base", "drop_relation", "user_attributes"]


def user_attributes(q: UnitQuery) -> tuple[str, str]:
    """(select list, join) of country / platform / user_type for units ``x`` (unit_id, first_ts)."""
    users = all_files("users") if q.user_attributes else []
    if not users:
        return "'unknown' AS country, 'unknown' AS platform, 'unknown' AS user_type", ""
    return (
        "coalesce(usr.country, 'unknown') AS country, "
        "coalesce(usr.platform, 'unknown') AS platform, "
        f"CASE WHEN usr.signup_ts IS NULL THEN 'unknown' "
        f"WHEN usr.signup_ts > x.first_ts - INTERVAL {NEW_USER_DAYS} DAY THEN 'new' "
        "ELSE 'returning' END AS user_type",
        f"LEFT JOIN read_parquet({files_sql(users)}) usr ON usr.user_id = x.unit_id",
    )


def _exposure_source(q: UnitQuery) -> str:
    """The exposures relation of the query's population."""
    if q.population == "active":
        imp = event_files("impressions", q.start.date(), q.window_end.date())
        if not imp:
            raise EventTableMissingError(
                "events table 'impressions' has no files for "
                f"{q.start.date()}..{q.window_end.date()} under {paths.events_dir('impressions')}."
            )
        # every active user is one unit of a pseudo-experiment with one variant, ``all``
        return (
            f"(SELECT $experiment AS experiment, 'all' AS variant, user_id AS unit_id, ts "
            f"FROM read_parquet({files_sql(imp)}))"
        )
    exposure_files = all_files("exposures")
    return f"read_parquet({files_sql(exposure_files)})" if exposure_files else EMPTY_EXPOSURES_SQL


def build_unit_base(con: duckdb.DuckDBPyConnection, q: UnitQuery) -> int:
    """Temp tables ``exposed`` and ``unit_base`` (one row per unit); returns the switchers."""
    where = f"experiment = $experiment AND ts >= {ts_sql(q.start)} AND ts < {ts_sql(q.window_end)}"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exposed AS "
        + first_exposures_sql(_exposure_source(q), where, count_variants=False),
        {"experiment": q.experiment},
    )
    n_multi = int(con.execute("SELECT count(*) FROM exposed WHERE n_variants > 1").fetchall()[0][0])
    user_cols, user_join = user_attributes(q)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE unit_base AS
        SELECT x.unit_id, x.variant, x.first_ts, {user_cols}
        FROM exposed x {user_join}
        WHERE x.n_variants = 1
        """
    )
    return n_multi


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop temp table or view ``name`` if it exists (DROP names the kind, so look it up)."""
    kinds = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = ? UNION ALL "
        "SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = ?",
        [name, name],
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} {name}")
