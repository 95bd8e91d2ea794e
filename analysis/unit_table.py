"""The unit table: one row per unit (per content type with that segment) and its unit columns.

Two builds, one definition of every column (``unit_query.COLUMN_SQL``):

- :func:`write_unit_table` after the streamed scan (``unit_scan``): the default, because the scan
  also feeds the daily series and DuckDB's ``GROUP BY unit`` was the slow part at 10M units;
- :func:`build_sql_unit_table`, one SQL aggregate per event table: the content-type breakdown
  (an event's content type is its item's, so the table has a row per unit × content type) and
  the reference the scan is tested against on every catalog metric.

A built table is passed on explicitly as a :class:`UnitTable`: the interaction checks of
``analyze()`` ask for a subset of the same table on their own connection, and copying those
columns over (≈ 1 s at 10M units) replaces a second scan of the event log (22 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, cast

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from shoplab.analysis.unit_base import build_unit_base, drop_relation, user_attributes
from shoplab.analysis.unit_query import (
    COLUMN_SQL,
    ITEM_JOIN,
    UnitQuery,
    event_files,
    event_joins,
    files_sql,
    tables_of,
    ts_sql,
)
from shoplab.analysis.unit_scan import UnitScan, WindowEvents, scan_units, window_totals
from shoplab.core.errors import InputError

__all__ = [
    "CONTENT_TYPES",
    "UnitBuild",
    "UnitTable",
    "build_sql_unit_table",
    "build_unit_table",
    "build_units",
    "fetch_polars",
    "write_unit_table",
]

CONTENT_TYPES = ("product", "video", "live")
"""Values of ``items.content_type``: every unit gets a row for each in the content-type table."""


class UnitBuild(NamedTuple):
    """What :func:`build_units` returns besides the temp table."""

    multi_variant_units: int
    """Units exposed to two or more variants (excluded from the table)."""
    events: WindowEvents | None
    """The window's events by day when asked for (``keep_events=True``), else ``None``."""


@dataclass(frozen=True)
class UnitTable:
    """A built unit table: where it lives and what it holds, to be reused by a later build."""

    con: duckdb.DuckDBPyConnection
    query: UnitQuery
    name: str
    multi_variant_units: int

    def serves(self, q: UnitQuery) -> bool:
        """Same experiment, window, pre-period and population, no segment, columns a subset."""
        p = self.query
        same = (q.experiment, q.start, q.window_end, q.pre_days, q.population) == (
            p.experiment,
            p.start,
            p.window_end,
            p.pre_days,
            p.population,
        )
        return same and q.segment is None and p.segment is None and set(q.columns) <= set(p.columns)

    def copy_to(self, con: duckdb.DuckDBPyConnection, q: UnitQuery, name: str) -> UnitBuild:
        """Temp view ``name`` on ``con`` with ``q``'s columns of this table.

        User attributes are joined afresh when ``q`` asks for them.
        """
        cols = [
            x for tcols in tables_of(q.columns).values() for c in tcols for x in (c, f"pre_{c}")
        ]
        src = self.con.sql(
            f"SELECT unit_id, variant, first_ts{''.join(f', {c}' for c in cols)} FROM {self.name}"
        ).to_arrow_table()
        user_cols, user_join = user_attributes(q)
        # a view (the Arrow columns stay registered on ``con``): the caller reads it once or twice
        con.register(f"_{name}_shared", src)
        drop_relation(con, name)
        con.execute(
            f"CREATE TEMP VIEW {name} AS SELECT x.unit_id, x.variant, x.first_ts, "
            f"{user_cols}{''.join(f', x.{c}' for c in cols)} FROM _{name}_shared x {user_join}"
        )
        return UnitBuild(self.multi_variant_units, None)


def build_unit_table(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    name: str = "units",
    *,
    reuse: UnitTable | None = None,
) -> int:
    """Create temp table (view) ``name``: one row per unit (per content type with that segment).

    Columns: unit_id, variant, first_ts, country, platform, user_type, [content_type], then for
    each requested column ``c``: ``c`` (analysis window) and ``pre_c`` (pre-period), 0 when absent.

    Returns:
        The number of units exposed to two or more variants (excluded from the table).
    """
    return build_units(con, q, name, reuse=reuse).multi_variant_units


def build_units(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    name: str = "units",
    *,
    keep_events: bool = False,
    reuse: UnitTable | None = None,
) -> UnitBuild:
    """:func:`build_unit_table`, optionally keeping the window's events by day for the series.

    ``scan_units`` + ``window_totals`` + ``write_unit_table``; ``analyze()`` calls the three
    itself so that the daily series, which sums the same events per day anyway, provides the
    window totals. ``reuse``: copy from that table when it :meth:`~UnitTable.serves` ``q``.
    """
    if reuse is not None and not keep_events and reuse.serves(q):
        return reuse.copy_to(con, q, name)
    if q.segment == "content_type":
        n_multi = build_unit_base(con, q)
        build_sql_unit_table(con, q, name)
        return UnitBuild(n_multi, None)
    scan = scan_units(con, q)
    write_unit_table(con, q, scan, window_totals(scan.events), name)
    return UnitBuild(scan.multi_variant_units, scan.events if keep_events else None)


def write_unit_table(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    scan: UnitScan,
    window: NDArray[np.float64],
    name: str = "units",
) -> None:
    """Temp view ``name``: the table :func:`build_unit_table` makes, from a scan.

    ``unit_base`` + window totals ``window`` (columns × units, in ``scan.events`` order) + the
    pre-period totals.

    A view of a positional join with the NumPy columns (kept registered on ``con``), not a copy:
    materializing 10M rows × 18 columns took 2 s, a query over the view ≈ 0.1 s more than over a
    table, and the scorecard reads the unit table 2–4 times. ``unit_base`` becomes
    ``<name>_base`` so that a later build on the same connection cannot shift its rows.
    """
    arrays: dict[str, NDArray[np.float64]] = {}
    for tcols in tables_of(q.columns).values():  # column order: per table, c then pre_c
        for c in tcols:
            i = q.columns.index(c)
            # back from variant order to unit_base's row order, for the positional join
            arrays[c] = window[i][scan.position]
            arrays[f"pre_{c}"] = scan.events.pre[i][scan.position]
    sums = pa.table(arrays) if arrays else pa.table({"_": pa.array([], pa.int8())})
    drop_relation(con, name)
    drop_relation(con, f"{name}_base")
    con.execute(f"ALTER TABLE unit_base RENAME TO {name}_base")
    con.register(f"_{name}_sums", sums)
    con.execute(
        f"CREATE TEMP VIEW {name} AS SELECT b.*{''.join(f', s.{c}' for c in arrays)} "
        f"FROM {name}_base b POSITIONAL JOIN _{name}_sums s"
    )


def build_sql_unit_table(con: duckdb.DuckDBPyConnection, q: UnitQuery, name: str) -> None:
    """The unit table from ``unit_base`` by one SQL aggregate per event table.

    With ``q.segment == "content_type"`` a row per (unit, content type); otherwise a row per unit,
    the same table the streamed scan writes (the scan is the fast path, this the reference).

    Raises:
        InputError: a content-type breakdown of a metric on requests (a request has no item).
    """
    start, wend, pre = ts_sql(q.start), ts_sql(q.window_end), ts_sql(q.pre_start)
    by_ct = q.segment == "content_type"
    tables = tables_of(q.columns)
    if by_ct and "requests" in tables:
        raise InputError(
            "segment == 'content_type', must not be used with metrics on requests: "
            "a request is not of one content type."
        )
    keys = "unit_id, content_type" if by_ct else "unit_id"
    parts: list[tuple[str, list[str]]] = []
    for i, (table, cols) in enumerate(tables.items()):
        files = event_files(table, q.pre_start.date(), q.window_end.date())
        alias = f"t{i}"
        parts.append((alias, cols))
        if not files:
            sel = ", ".join(f"0::DOUBLE AS {c}, 0::DOUBLE AS pre_{c}" for c in cols)
            ct = "NULL::VARCHAR AS content_type, " if by_ct else ""
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {alias} AS SELECT 0::BIGINT unit_id, {ct}{sel} "
                "WHERE false"
            )
            continue
        aggs = []
        for c in cols:
            expr = COLUMN_SQL[c][1]
            aggs.append(
                f"sum(CASE WHEN e.ts >= u.first_ts AND e.ts < {wend} THEN {expr} ELSE 0 END)"
                f"::DOUBLE AS {c}"
            )
            aggs.append(f"sum(CASE WHEN e.ts < {start} THEN {expr} ELSE 0 END)::DOUBLE AS pre_{c}")
        # a content-type row needs the item's content type: an unknown item has none, so the
        # breakdown (every column alike) keeps known items only; without it the joins are LEFT,
        # as in the scan, so that asking for an item or slot column changes no other column
        item_join = event_joins(con, q, [*cols, "new_item_impressions"] if by_ct else cols)
        if by_ct:
            item_join = item_join.replace(ITEM_JOIN, "JOIN items_t it ON it.item_id = e.item_id")
        ct_col = "it.content_type, " if by_ct else ""
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {alias} AS
            SELECT e.user_id AS unit_id, {ct_col}{", ".join(aggs)}
            FROM read_parquet({files_sql(files)}) e
            JOIN unit_base u ON u.unit_id = e.user_id
            {item_join}
            WHERE e.ts >= {pre} AND e.ts < {wend}
            GROUP BY ALL
            """
        )
    select = ["b.*"]
    joins = []
    for alias, cols in parts:
        for c in cols:
            select.append(f"coalesce({alias}.{c}, 0)::DOUBLE AS {c}")
            select.append(f"coalesce({alias}.pre_{c}, 0)::DOUBLE AS pre_{c}")
        joins.append(f"LEFT JOIN {alias} USING ({keys})")
    base = (
        "(SELECT b.*, ct.content_type FROM unit_base b CROSS JOIN "
        f"(SELECT unnest({list(CONTENT_TYPES)}) AS content_type) ct) b"
        if by_ct
        else "unit_base b"
    )
    drop_relation(con, name)
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT {', '.join(select)} FROM {base} " + " ".join(joins)
    )


def fetch_polars(con: duckdb.DuckDBPyConnection, table: str = "units") -> pl.DataFrame:
    """The unit table as a Polars frame (Arrow, zero-copy where DuckDB allows)."""
    # an Arrow Table converts to a DataFrame, never a Series (from_arrow's return type is both)
    return cast(pl.DataFrame, pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table()))
