"""What a unit table aggregates, and the one definition of each unit column over the event log.

A unit column (:data:`shoplab.analysis.metrics.UNIT_COLUMNS`) is the sum, over one event table's
rows of the unit, of one SQL expression (:data:`COLUMN_SQL`). Both ways of building a unit table
render these expressions: the streamed scan (``unit_scan``: DuckDB selects, NumPy sums) and the
pure SQL aggregate (``unit_table.build_sql_unit_table``), so they cannot disagree on a column.

The filters, in SQL:

- A unit's first exposure to the experiment inside [start, window_end) counts
  (``shoplab.core.exposures``); a unit exposed to two variants of one experiment is counted
  (``multi_variant_units``) and excluded.
- Window events count only at/after the unit's first exposure and before
  ``window_end = min(end, as_of)``.
- The pre-period is [start − pre_days, start) for every unit (a fixed calendar window, so that it
  cannot be influenced by the treatment); it feeds CUPED covariates and winsorization caps.
- Impressions of an item missing from the items table count in every column
  (``impressions``, hence CTR's denominator) and not in ``new_item_impressions``, whose rule
  needs the item's ``created_ts``: the items table is LEFT joined (:data:`ITEM_JOIN`). An inner
  join would drop those impressions from every column of the table as soon as any metric needs
  the items, so a metric's value would depend on which other metrics are requested (issue 12).
  The content-type breakdown is the exception: it inner-joins, a row needs a content type.
- Daily fact tables are read through an explicit list of ``YYYY-MM-DD.parquet`` files covering the
  two windows, so a 90-day log does not cost 90 days of I/O for a 14-day test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import duckdb

from shoplab.core import paths
from shoplab.core.duck import sql_list
from shoplab.core.errors import DataError
from shoplab.core.files import day_of, parquet_files
from shoplab.events.files import check_schema

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.metrics import Metric

__all__ = [
    "COLUMN_SQL",
    "ITEM_COLUMNS",
    "ITEM_JOIN",
    "NEW_ITEM_DAYS",
    "NEW_USER_DAYS",
    "POSITION_COLUMNS",
    "POSITION_JOIN",
    "TOP_K",
    "SEGMENT_DIMENSIONS",
    "VALUE_TYPES",
    "EventTableMissingError",
    "SegmentDimension",
    "UnitQuery",
    "all_files",
    "event_files",
    "event_joins",
    "files_sql",
    "require_files",
    "tables_of",
    "ts_sql",
    "not_available",
    "unavailable_metrics",
]

SegmentDimension = Literal["content_type", "country", "platform", "user_type"]
SEGMENT_DIMENSIONS: Final[tuple[str, ...]] = ("content_type", "country", "platform", "user_type")
NEW_USER_DAYS: Final = 7
"""A unit is a ``new`` user when it signed up less than 7 days before its first exposure."""
NEW_ITEM_DAYS: Final = 7
"""An item is ``new`` for 7 days after it was created (the ecosystem team's definition)."""
TOP_K: Final = 10
"""The slots of the position-aware metrics (``ctr_at_10``, ``orders_at_10``): the first screen
of a feed of two-column cards is about 6-10 slots; 10 is the common choice of ranking papers."""

COLUMN_SQL: Final[dict[str, tuple[str, str]]] = {
    "requests": ("requests", "1"),
    "impressions": ("impressions", "1"),
    "new_item_impressions": (
        "impressions",
        # epoch arithmetic: TIMESTAMPTZ − INTERVAL goes through ICU calendars, ≈ 5× slower
        f"CASE WHEN epoch_us(e.ts) - epoch_us(it.created_ts) < {NEW_ITEM_DAYS * 86_400_000_000} "
        "THEN 1 ELSE 0 END",
    ),
    "clicks": ("clicks", "1"),
    "orders": ("orders", "1"),
    "refunded_orders": ("orders", "CASE WHEN e.refunded THEN 1 ELSE 0 END"),
    # net GMV: the GMV of a refunded order is subtracted (see analysis.metrics)
    "gmv": ("orders", "CASE WHEN e.refunded THEN 0 ELSE e.gmv END"),
    "gmv_gross": ("orders", "e.gmv"),
    # position-aware columns: the slot of an impression is its 0-based ``position``; a click or
    # an order takes the slot of the impression it came from (joined as ``pz``)
    f"impressions_top{TOP_K}": ("impressions", f"CASE WHEN e.position < {TOP_K} THEN 1 ELSE 0 END"),
    f"clicks_top{TOP_K}": ("clicks", f"CASE WHEN pz.position < {TOP_K} THEN 1 ELSE 0 END"),
    f"orders_top{TOP_K}": ("orders", f"CASE WHEN pz.position < {TOP_K} THEN 1 ELSE 0 END"),
    "position_weighted_clicks": ("clicks", "1.0 / log2(pz.position + 2)"),
    **{
        f"{ct}_impressions_top{TOP_K}": (
            "impressions",
            f"CASE WHEN e.position < {TOP_K} AND it.content_type = '{ct}' THEN 1 ELSE 0 END",
        )
        for ct in ("product", "video", "live")
    },
}
"""Unit column → (event table, SQL contribution of one event ``e``; items joined as ``it``, the
impression of a click or an order as ``pz``)."""

ITEM_COLUMNS: Final = frozenset(
    {
        "new_item_impressions",
        *(f"{ct}_impressions_top{TOP_K}" for ct in ("product", "video", "live")),
    }
)
"""Unit columns whose SQL reads the item (``it``: :data:`ITEM_JOIN`)."""
POSITION_COLUMNS: Final = frozenset(
    {f"clicks_top{TOP_K}", f"orders_top{TOP_K}", "position_weighted_clicks"}
)
"""Unit columns whose SQL reads the slot of the impression a click or order came from (``pz``)."""
POSITION_JOIN: Final = (
    "LEFT JOIN imp_pos_t pz ON pz.request_id = e.request_id AND pz.item_id = e.item_id"
)
"""LEFT, like :data:`ITEM_JOIN`: a click whose impression is unknown counts in ``clicks`` and
in no slot column (its slot is not known)."""

ITEM_JOIN: Final = "LEFT JOIN items_t it ON it.item_id = e.item_id"
"""How both builds join the items (temp table ``items_t``) to events ``e`` for an item column.

LEFT, so that the join drops no event: an unknown item's ``it.created_ts`` is NULL, the
``new_item_impressions`` comparison is NULL and its CASE gives 0 (the item is not known to be
new), while ``impressions`` and every other column still count the event.
"""

VALUE_TYPES: Final[dict[str, str]] = {
    "gmv": "DOUBLE",
    "gmv_gross": "DOUBLE",
    "position_weighted_clicks": "DOUBLE",
}
"""SQL type of one event's contribution to a unit column that is not a plain count: money as
DOUBLE, else TINYINT — every other expression in :data:`COLUMN_SQL` is a 0/1 flag (refunded, new
item), which the scan counts: 1 byte per event on the way to NumPy."""


class EventTableMissingError(DataError, FileNotFoundError):
    """An event table the unit table needs has no Parquet files (``FileNotFoundError`` kept)."""


@dataclass(frozen=True)
class UnitQuery:
    """What to aggregate: the experiment window, the pre-period and the columns needed."""

    experiment: str
    start: datetime
    window_end: datetime
    pre_days: int
    columns: tuple[str, ...]
    segment: SegmentDimension | None = None
    user_attributes: bool = True
    """Join the users table for country / platform / user_type (skipped when no such segment is
    asked for: a 10M × 10M hash join is ≈ 10 % of the whole job)."""
    population: Literal["exposed", "active"] = "exposed"
    """``exposed``: units in the experiment's exposure log; ``active``: every user with an
    impression in the window (what power analysis uses before an experiment exists)."""

    @property
    def pre_start(self) -> datetime:
        """First instant of the pre-period."""
        return self.start - timedelta(days=self.pre_days)


def tables_of(columns: Sequence[str]) -> dict[str, list[str]]:
    """Event table → the requested unit columns it feeds (in request order)."""
    tables: dict[str, list[str]] = {}
    for col in columns:
        tables.setdefault(COLUMN_SQL[col][0], []).append(col)
    return tables


_CHECKED: dict[tuple[str, str, int, int], None] = {}


def _checked(table: str, files: list[Path]) -> list[str]:
    """``files`` after a footer check against the event-log contract (cached per file version).

    Why here: DuckDB's error on a truncated file or a missing column is a traceback deep in the
    scan; checking every footer first (ms per file, once per file version and process) turns it
    into one ``EventLogError`` naming the file and the column, before any SQL runs.
    """
    for f in files:
        st = f.stat()
        key = (table, str(f), st.st_size, st.st_mtime_ns)
        if key not in _CHECKED:
            check_schema(table, f)
            _CHECKED[key] = None
    return [str(f) for f in files]


def event_files(table: str, first: date, last: date) -> list[str]:
    """Files of an event table that can hold rows of days ``first..last``.

    Daily partitions outside the days are skipped; a file whose name is not a day is read (the
    ts filter of the query applies to it).

    Raises:
        EventLogError: a file is not Parquet or lacks a contract column (named with its path).
    """
    picked = []
    for f in parquet_files(paths.events_dir(table)):
        day = day_of(f)
        if day is None or first <= day <= last:
            picked.append(f)
    return _checked(table, picked)


def all_files(table: str) -> list[str]:
    """Every visible Parquet file of an event table (dimension tables: users, items).

    Raises:
        EventLogError: a file is not Parquet or lacks a contract column (named with its path).
    """
    return _checked(table, parquet_files(paths.events_dir(table)))


def require_files(table: str, why: str) -> list[str]:
    """:func:`all_files`, raising when there are none.

    Raises:
        EventTableMissingError: the table has no files (the message says what needs it).
    """
    files = all_files(table)
    if not files:
        raise EventTableMissingError(
            f"events table {table!r} has no Parquet files under {paths.events_dir(table)}; "
            f"needed for {why}."
        )
    return files


def event_joins(con: duckdb.DuckDBPyConnection, q: UnitQuery, columns: Sequence[str]) -> str:
    """The JOIN clauses ``columns``' SQL needs, after creating the temp tables they read.

    ``items_t`` (item, content type, created) for :data:`ITEM_COLUMNS`; ``imp_pos_t`` (request,
    item, slot) for :data:`POSITION_COLUMNS`. Both LEFT joins: no event is dropped from any other
    column of its table (a metric's value never depends on which others are requested).

    Raises:
        EventTableMissingError: the items or the impressions table has no files.
    """
    joins = []
    if any(c in ITEM_COLUMNS for c in columns):
        items = require_files("items", "content_type / new_item_impressions")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE items_t AS SELECT item_id, content_type, created_ts "
            f"FROM read_parquet({files_sql(items)})"
        )
        joins.append(ITEM_JOIN)
    if any(c in POSITION_COLUMNS for c in columns):
        # the impression of a click can be a day before it (a click just after midnight)
        imps = event_files(
            "impressions", q.pre_start.date() - timedelta(days=1), q.window_end.date()
        )
        if not imps:
            raise EventTableMissingError(
                f"events table 'impressions' has no Parquet files under "
                f"{paths.events_dir('impressions')}; needed for the slot of clicks and orders "
                "(position-aware metrics): not available without an impressions table."
            )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE imp_pos_t AS SELECT request_id, item_id, "
            f"min(position) AS position FROM read_parquet({files_sql(imps)}) GROUP BY ALL"
        )
        joins.append(POSITION_JOIN)
    return " ".join(joins)


def files_sql(files: Sequence[str]) -> str:
    """``read_parquet`` argument for a list of files."""
    return sql_list(files)


def ts_sql(t: datetime) -> str:
    """A TIMESTAMPTZ literal.

    The query's windows are constants, not parameters: DuckDB can then skip row groups by their
    ts statistics.
    """
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def unavailable_metrics(metrics: Sequence[Metric]) -> dict[str, tuple[str, ...]]:
    """Metric name → the event tables it reads that have no files at all (only when some).

    A log may have only some tables (exposures + requests + orders: an e-mail experiment, an
    orders-only shop): a metric on impressions is then ``not available: no impressions table``
    (:func:`not_available`), a row of its own instead of a failed analysis or a 0/0. A table with
    files but no rows in the window is data (zero events), not absence, and is analysed as such.
    """
    out: dict[str, tuple[str, ...]] = {}
    for m in metrics:
        cols = [m.numerator, *([m.denominator] if m.denominator else [])]
        need = [COLUMN_SQL[c][0] for c in cols]
        need += ["impressions" for c in cols if c in POSITION_COLUMNS]
        need += ["items" for c in cols if c in ITEM_COLUMNS]
        if m.kind == "concentration":  # shares across shops: the item names the shop
            need.append("items")
        absent = tuple(t for t in dict.fromkeys(need) if not parquet_files(paths.events_dir(t)))
        if absent:
            out[m.name] = absent
    return out


def not_available(tables: Sequence[str]) -> str:
    """The detail of a metric row whose tables are absent.

    Example:
        >>> not_available(["impressions"])
        'not available: no impressions table'
    """
    return f"not available: no {' / '.join(tables)} table"
