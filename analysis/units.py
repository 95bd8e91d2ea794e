"""Events + exposures → one row per unit, then → sufficient statistics (SQL).

DuckDB selects and joins (exposures → units, events → units and items, the filters below) and
streams one row per counted event; NumPy sums them per unit (``np.add.at``) and keeps the
window's rows by day for the daily series (``analysis.daily``), so the log is read once for
both. DuckDB's ``GROUP BY unit`` was the slow part, not the scan or the joins (10M users: 22.5 s
vs 15 s to stream the same 146M joined impressions out). The filters, in SQL:

- A unit's first exposure to the experiment inside [start, window_end) counts; a unit exposed to
  two variants of one experiment is counted (``multi_variant_units``) and excluded.
- Window events count only at/after the unit's first exposure and before
  ``window_end = min(end, as_of)``.
- The pre-period is [start − pre_days, start) for every unit (a fixed calendar window, so that it
  cannot be influenced by the treatment); it feeds CUPED covariates and winsorization caps.
- Daily fact tables are read through an explicit list of ``YYYY-MM-DD.parquet`` files covering the
  two windows, so a 90-day log does not cost 90 days of I/O for a 14-day test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, NamedTuple

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray
from shoplab.analysis.metrics import UNIT_COLUMNS, Metric
from shoplab.analysis.stats import SufficientStatistic

from shoplab.core import paths

__all__ = [
    "SEGMENT_DIMENSIONS",
    "NEW_USER_DAYS",
    "SegmentDimension",
    "EventChunk",
    "UnitBuild",
    "UnitQuery",
    "UnitScan",
    "WindowEvents",
    "add_events",
    "build_unit_table",
    "build_units",
    "connect",
    "fetch_polars",
    "metric_sql",
    "pre_period_table",
    "reduce_statistics",
    "scan_units",
    "sharing_unit_table",
    "unit_columns_for",
    "window_totals",
    "write_unit_table",
    "winsorize_caps",
]

SegmentDimension = Literal["content_type", "country", "platform", "user_type"]
SEGMENT_DIMENSIONS: Final[tuple[str, ...]] = ("content_type", "country", "platform", "user_type")
NEW_USER_DAYS: Final = 7
"""A unit is a ``new`` user when it signed up less than 7 days before its first exposure."""
NEW_ITEM_DAYS: Final = 7

# unit column -> (event table, SQL aggregate over alias e; the window/pre filter is added around it)
_COLUMN_SQL: Final[dict[str, tuple[str, str]]] = {
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
}


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


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection tuned for one aggregation job.

    Memory is capped at ``$SHOPLAB_DUCKDB_MEMORY`` (default 8GB: the machine is shared) and DuckDB
    spills to ``<data root>/tmp/duckdb`` beyond it, so a 10M-user job degrades instead of failing.
    """
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{os.environ.get('SHOPLAB_DUCKDB_MEMORY', '8GB')}'")
    spill = paths.data_root() / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{spill.as_posix()}'")
    # Order of rows never matters for aggregates; dropping it lets DuckDB stream joins (≈ 20 %
    # less memory on the 10M-user benchmark).
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the CLI draws its own; keep stdout clean
    return con


def _day_files(table: str, first: date, last: date) -> list[str]:
    folder = paths.events_dir(table)
    if not folder.is_dir():
        return []
    out = []
    for f in sorted(folder.glob("*.parquet")):
        try:
            d = date.fromisoformat(f.stem)
        except ValueError:
            out.append(str(f))  # not a daily file name: read it, the ts filter applies
            continue
        if first <= d <= last:
            out.append(str(f))
    return out


def _all_files(table: str) -> list[str]:
    folder = paths.events_dir(table)
    return sorted(str(f) for f in folder.glob("*.parquet")) if folder.is_dir() else []


def _lit(files: Sequence[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _ts(t: datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


class EventChunk(NamedTuple):
    """A batch of one event table's rows: the unit of each event and its values."""

    units: NDArray[np.int32]
    """Position of the event's unit (see :class:`WindowEvents`), one per event."""
    values: dict[str, NDArray[Any] | None]
    """Unit column → the event's contribution to it (``None``: each event counts 1)."""


@dataclass(frozen=True)
class WindowEvents:
    """The analysis window's events by day, kept from the unit-table scan for the daily series.

    The unit table is the per-unit sum of these events and the daily series their per-day
    cumulative sum, so the event log is read once for both (``analysis.daily``). Units are
    numbered 0..n−1 in variant order (a variant's units are one contiguous range, so per-variant
    sums need slices, not masks). Memory ≈ 5 bytes per window impression.
    """

    days: tuple[date, ...]
    """Calendar days (UTC) of the window; ``by_day[d]`` holds day ``days[d]``."""
    columns: tuple[str, ...]
    variant_keys: tuple[str, ...]
    variant: NDArray[np.int16]
    """Per unit: index into ``variant_keys`` (non-decreasing)."""
    first_day: NDArray[np.int16]
    """Per unit: index into ``days`` of its first exposure (the day it enters the series)."""
    pre: NDArray[np.float64]
    """(columns × units) pre-period totals (constant per unit: the CUPED covariates)."""
    by_day: tuple[dict[str, list[EventChunk]], ...]
    """Per day: event table → its chunks of in-window events at/after first exposure."""


class UnitBuild(NamedTuple):
    """What :func:`build_units` returns besides the temp table."""

    multi_variant_units: int
    """Units exposed to two or more variants (excluded from the table)."""
    events: WindowEvents | None
    """The window's events by day when asked for (``keep_events=True``), else ``None``."""


_VALUE_TYPES: Final[dict[str, str]] = {"gmv": "DOUBLE", "gmv_gross": "DOUBLE"}
"""SQL type of one event's contribution to a unit column that is not a plain count: money as
DOUBLE, else TINYINT — every other expression in ``_COLUMN_SQL`` is a 0/1 flag (refunded, new
item), which ``add_events`` counts: 1 byte per event on the way to NumPy."""
_BATCH_ROWS: Final = 1 << 20
_US_PER_DAY: Final = 86_400_000_000


def _tables_of(columns: Sequence[str]) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for col in columns:
        tables.setdefault(_COLUMN_SQL[col][0], []).append(col)
    return tables


@dataclass(frozen=True)
class _Shared:
    con: duckdb.DuckDBPyConnection
    q: UnitQuery
    table: str
    multi_variant_units: int


_SHARED: ContextVar[_Shared | None] = ContextVar("analysis_units_shared", default=None)


@contextmanager
def sharing_unit_table(
    con: duckdb.DuckDBPyConnection, q: UnitQuery, table: str, multi_variant_units: int
) -> Iterator[None]:
    """Within this block, serve compatible :func:`build_units` calls from an existing table.

    ``analyze()`` builds the unit table once; its cross-layer checks (``analysis.interactions``
    → ``unit_aggregates``) ask for a subset of the same table on a new connection. Copying the
    columns over (≈ 1 s at 10M units) replaces a second scan of the event log (22 s). Compatible:
    same experiment, window, pre-period and population, no segment, columns a subset; user
    attributes are joined afresh when asked for.
    """
    token = _SHARED.set(_Shared(con, q, table, multi_variant_units))
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared_for(q: UnitQuery) -> _Shared | None:
    shared = _SHARED.get()
    if shared is None:
        return None
    p = shared.q
    same = (q.experiment, q.start, q.window_end, q.pre_days, q.population) == (
        p.experiment,
        p.start,
        p.window_end,
        p.pre_days,
        p.population,
    )
    if not same or q.segment is not None or p.segment is not None:
        return None
    return shared if set(q.columns) <= set(p.columns) else None


def _copy_shared(
    con: duckdb.DuckDBPyConnection, q: UnitQuery, name: str, shared: _Shared
) -> UnitBuild:
    cols = [x for tcols in _tables_of(q.columns).values() for c in tcols for x in (c, f"pre_{c}")]
    src = shared.con.sql(
        f"SELECT unit_id, variant, first_ts{''.join(f', {c}' for c in cols)} FROM {shared.table}"
    ).to_arrow_table()
    user_cols, user_join = _user_attributes(q)
    # a view (the Arrow columns stay registered on ``con``): the caller reads it once or twice
    con.register(f"_{name}_shared", src)
    _drop(con, name)
    con.execute(
        f"CREATE TEMP VIEW {name} AS SELECT x.unit_id, x.variant, x.first_ts, "
        f"{user_cols}{''.join(f', x.{c}' for c in cols)} FROM _{name}_shared x {user_join}"
    )
    return UnitBuild(shared.multi_variant_units, None)


def build_unit_table(con: duckdb.DuckDBPyConnection, q: UnitQuery, name: str = "units") -> int:
    """Create temp table (view) ``name``: one row per unit (per content type with that segment).

    Columns: unit_id, variant, first_ts, country, platform, user_type, [content_type], then for
    each requested column ``c``: ``c`` (analysis window) and ``pre_c`` (pre-period), 0 when absent.

    Returns:
        The number of units exposed to two or more variants (excluded from the table).
    """
    return build_units(con, q, name).multi_variant_units


def build_units(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    name: str = "units",
    *,
    keep_events: bool = False,
) -> UnitBuild:
    """:func:`build_unit_table`, optionally keeping the window's events by day for the series.

    ``scan_units`` + ``window_totals`` + ``write_unit_table``; ``analyze()`` calls the three
    itself so that the daily series, which sums the same events per day anyway, provides the
    window totals.
    """
    shared = _shared_for(q)
    if shared is not None and not keep_events:
        return _copy_shared(con, q, name, shared)
    if q.segment == "content_type":
        n_multi = _build_unit_base(con, q)
        _build_content_type_table(con, q, name)
        return UnitBuild(n_multi, None)
    scan = scan_units(con, q)
    write_unit_table(con, q, scan, window_totals(scan.events), name)
    return UnitBuild(scan.multi_variant_units, scan.events if keep_events else None)


class UnitScan(NamedTuple):
    """The event log read once for one :class:`UnitQuery` (no content-type segment)."""

    multi_variant_units: int
    events: WindowEvents
    position: NDArray[np.int32]
    """Per row of the temp table ``unit_base``: the unit's position in ``events``."""


def scan_units(con: duckdb.DuckDBPyConnection, q: UnitQuery) -> UnitScan:
    """Units (temp table ``unit_base``) and their events: one streamed pass per event table.

    DuckDB joins each event to its unit (and item) and keeps it when in [pre_start, start) or
    [first exposure, window_end); NumPy sums the rows per unit (``add_events``). The hash
    aggregate was the cost, not the scan or the join: on 10M users streaming the 146M joined
    impression rows out took 15 s (2 cores) where ``GROUP BY unit`` took 22.5 s, and grouping by
    unit × day — what the daily series needs — costs more still.
    """
    if q.segment == "content_type":
        raise ValueError("segment == 'content_type' has no event scan; use build_unit_table.")
    n_multi = _build_unit_base(con, q)
    if "new_item_impressions" in q.columns and not _all_files("items"):
        raise FileNotFoundError(
            f"events table 'items' has no Parquet files under {paths.events_dir('items')}; "
            "needed for content_type / new_item_impressions."
        )
    events, position = _scan_events(con, q)
    return UnitScan(n_multi, events, position)


def window_totals(events: WindowEvents) -> NDArray[np.float64]:
    """(columns × units) sums of the window's events per unit (``add_events``)."""
    out = np.zeros((len(events.columns), events.variant.shape[0]))
    for day in events.by_day:
        for chunks in day.values():
            for ch in chunks:
                for c, v in ch.values.items():
                    add_events(out[events.columns.index(c)], ch.units, v)
    return out


def write_unit_table(
    con: duckdb.DuckDBPyConnection,
    q: UnitQuery,
    scan: UnitScan,
    window: NDArray[np.float64],
    name: str = "units",
) -> None:
    """Temp view ``name`` = ``unit_base`` + window totals ``window`` (columns × units, in
    ``scan.events`` order) + the pre-period totals: the table :func:`build_unit_table` makes.

    A view of a positional join with the NumPy columns (kept registered on ``con``), not a copy:
    materializing 10M rows × 18 columns took 2 s, a query over the view ≈ 0.1 s more than over a
    table, and the scorecard reads the unit table 2–4 times. ``unit_base`` becomes
    ``<name>_base`` so that a later build on the same connection cannot shift its rows.
    """
    arrays: dict[str, NDArray[np.float64]] = {}
    for tcols in _tables_of(q.columns).values():  # column order: per table, c then pre_c
        for c in tcols:
            i = q.columns.index(c)
            # back from variant order to unit_base's row order, for the positional join
            arrays[c] = window[i][scan.position]
            arrays[f"pre_{c}"] = scan.events.pre[i][scan.position]
    sums = pa.table(arrays) if arrays else pa.table({"_": pa.array([], pa.int8())})
    _drop(con, name)
    _drop(con, f"{name}_base")
    con.execute(f"ALTER TABLE unit_base RENAME TO {name}_base")
    con.register(f"_{name}_sums", sums)
    con.execute(
        f"CREATE TEMP VIEW {name} AS SELECT b.*{''.join(f', s.{c}' for c in arrays)} "
        f"FROM {name}_base b POSITIONAL JOIN _{name}_sums s"
    )


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop temp table or view ``name`` if it exists (DROP names the kind, so look it up)."""
    kinds = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = ? UNION ALL "
        "SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = ?",
        [name, name],
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} {name}")


@contextmanager
def pre_period_table(con: duckdb.DuckDBPyConnection, events: WindowEvents) -> Iterator[str]:
    """A view of the pre-period columns (``pre_<c>``, one row per unit) for ``winsorize_caps``
    before the unit table exists (same values, so the same quantiles)."""
    con.register(
        "_unit_pre", pa.table({f"pre_{c}": events.pre[i] for i, c in enumerate(events.columns)})
    )
    try:
        yield "_unit_pre"
    finally:
        con.unregister("_unit_pre")


def add_events(
    out: NDArray[np.float64], units: NDArray[np.integer[Any]], values: NDArray[Any] | None
) -> None:
    """``out[unit] += value`` for every event (1 when ``values`` is None), in place.

    ``np.add.at`` rather than ``bincount``: no per-call array of all units, no widening of the
    int32 positions, and it releases the GIL (0.53 s vs 0.78 s for 44M events into 10M units).
    0/1 flags (the TINYINT event values) add 1 for each flagged event.
    """
    if values is None:
        np.add.at(out, units, 1.0)
    elif values.dtype == np.int8:
        np.add.at(out, units[values != 0], 1.0)
    else:
        np.add.at(out, units, values)


def _scan_events(
    con: duckdb.DuckDBPyConnection, q: UnitQuery
) -> tuple[WindowEvents, NDArray[np.int32]]:
    """Stream every event of [pre_start, window_end) that counts, as (unit, day, values).

    Returns the events and, per ``unit_base`` row, the unit's position in them. Pre-period rows
    are summed per unit at once; window rows are kept per day.
    """
    start, wend, pre = _ts(q.start), _ts(q.window_end), _ts(q.pre_start)
    # days as integers since the epoch: TIMESTAMPTZ::DATE goes through ICU time zones (slow)
    day0 = int(q.start.timestamp()) // 86_400
    last_day = (q.window_end - timedelta(microseconds=1)).date()
    days = tuple(
        q.start.date() + timedelta(days=i) for i in range((last_day - q.start.date()).days + 1)
    )
    n_units, max_row = con.execute("SELECT count(*), max(rowid) FROM unit_base").fetchall()[0]
    if n_units and max_row != n_units - 1:  # rowids of a fresh temp table are 0..n−1
        raise RuntimeError(f"unit_base rowids run to {max_row} for {n_units} rows, must be dense.")
    keys = tuple(
        sorted(str(r[0]) for r in con.execute("SELECT DISTINCT variant FROM unit_base").fetchall())
    )
    per_row = con.execute(
        f"SELECT rowid::INTEGER AS r, (list_position(?, variant) - 1)::SMALLINT AS v, "
        f"(epoch_us(first_ts) // {_US_PER_DAY} - {day0})::SMALLINT AS d FROM unit_base",
        [list(keys)],
    ).fetchnumpy()
    variant_of_row = np.zeros(n_units, np.int16)
    first_day_of_row = np.zeros(n_units, np.int16)
    variant_of_row[per_row["r"]] = per_row["v"]
    first_day_of_row[per_row["r"]] = per_row["d"]
    del per_row
    # positions in (variant, first day) order, by two stable radix sorts: a variant's units are
    # one range, and so are the units entering on a given day
    row_at = np.argsort(first_day_of_row, kind="stable")
    row_at = row_at[np.argsort(variant_of_row[row_at], kind="stable")]  # position → row
    position = np.empty(n_units, np.int32)  # row → position
    position[row_at] = np.arange(n_units, dtype=np.int32)
    variant, first_day = variant_of_row[row_at], first_day_of_row[row_at]
    del row_at, variant_of_row, first_day_of_row
    # the join's build side carries the position: mapping 146M events in NumPy instead costs
    # ≈ 20 ns each (a random gather), the 10M-row table below ≈ 1 s
    con.register("_positions", pa.table({"pos": position}))
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE unit_pos AS SELECT b.unit_id, b.first_ts, p.pos "
            "FROM unit_base b POSITIONAL JOIN _positions p"
        )
    finally:
        con.unregister("_positions")

    cols = q.columns
    pre_sums = np.zeros((len(cols), n_units))
    by_day: list[dict[str, list[EventChunk]]] = [{} for _ in days]
    for table, tcols in _tables_of(cols).items():
        files = _day_files(table, q.pre_start.date(), q.window_end.date())
        if not files:
            continue
        valued = [c for c in tcols if _COLUMN_SQL[c][1] != "1"]
        vals = "".join(
            f", coalesce({_COLUMN_SQL[c][1]}, 0)::{_VALUE_TYPES.get(c, 'TINYINT')} AS {c}"
            for c in valued
        )
        item_join = (
            "JOIN items_t it ON it.item_id = e.item_id" if "new_item_impressions" in tcols else ""
        )
        if item_join:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE items_t AS SELECT item_id, created_ts "
                f"FROM read_parquet({_lit(_all_files('items'))})"
            )
        sql = f"""
            SELECT u.pos,
                   (CASE WHEN e.ts < {start} THEN -1
                         ELSE epoch_us(e.ts) // {_US_PER_DAY} - {day0} END)::SMALLINT AS d
                   {vals}
            FROM read_parquet({_lit(files)}) e
            JOIN unit_pos u ON u.unit_id = e.user_id
            {item_join}
            WHERE e.ts >= {pre} AND e.ts < {wend} AND (e.ts < {start} OR e.ts >= u.first_ts)
        """
        # summed after the stream: adding per batch frees each batch at once, and DuckDB's
        # next batches then fault fresh pages in (sys time 3.7 s → 8.3 s on 10M units)
        pre_chunks: list[EventChunk] = []
        for batch in con.sql(sql).to_arrow_reader(_BATCH_ROWS):
            if batch.num_rows == 0:
                continue
            units = batch.column(0).to_numpy()
            day = batch.column(1).to_numpy()
            values: dict[str, NDArray[Any] | None] = {c: None for c in tcols}
            for k, c in enumerate(valued):
                values[c] = batch.column(2 + k).to_numpy()
            for d, chunk in _split_by_day(units, day, values):
                if d < 0:
                    pre_chunks.append(chunk)
                else:
                    by_day[d].setdefault(table, []).append(chunk)
        for chunk in pre_chunks:
            for c, v in chunk.values.items():
                add_events(pre_sums[cols.index(c)], chunk.units, v)
        del pre_chunks
    events = WindowEvents(
        days=days,
        columns=cols,
        variant_keys=keys,
        variant=variant,
        first_day=first_day,
        pre=pre_sums,
        by_day=tuple(by_day),
    )
    return events, position


def _split_by_day(
    units: NDArray[np.int32], day: NDArray[np.int16], values: dict[str, NDArray[Any] | None]
) -> list[tuple[int, EventChunk]]:
    """A streamed batch as (day, chunk) pieces: views of its runs of one day, no copies.

    A batch holds DuckDB vectors (2048 rows) of whatever files the threads read, so it is a few
    long runs of one day each; sorting it instead cost ≈ 20 ns per event.
    """
    starts = np.flatnonzero(day[1:] != day[:-1]) + 1
    if starts.size > 256:  # interleaved: group by day with one stable radix sort
        order = np.argsort(day, kind="stable")
        units, day = units[order], day[order]
        values = {c: None if v is None else v[order] for c, v in values.items()}
        starts = np.flatnonzero(day[1:] != day[:-1]) + 1
    bounds = [0, *starts.tolist(), day.size]
    return [
        (
            int(day[lo]),
            EventChunk(
                units[lo:hi], {c: None if v is None else v[lo:hi] for c, v in values.items()}
            ),
        )
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _user_attributes(q: UnitQuery) -> tuple[str, str]:
    """(select list, join) of country / platform / user_type for units ``x`` (unit_id, first_ts)."""
    users = _all_files("users") if q.user_attributes else []
    if not users:
        return "'unknown' AS country, 'unknown' AS platform, 'unknown' AS user_type", ""
    return (
        "coalesce(usr.country, 'unknown') AS country, "
        "coalesce(usr.platform, 'unknown') AS platform, "
        f"CASE WHEN usr.signup_ts IS NULL THEN 'unknown' "
        f"WHEN usr.signup_ts > x.first_ts - INTERVAL {NEW_USER_DAYS} DAY THEN 'new' "
        "ELSE 'returning' END AS user_type",
        f"LEFT JOIN read_parquet({_lit(users)}) usr ON usr.user_id = x.unit_id",
    )


def _build_unit_base(con: duckdb.DuckDBPyConnection, q: UnitQuery) -> int:
    """Temp tables ``exposed`` and ``unit_base`` (one row per unit); returns the switchers."""
    exposure_files = _all_files("exposures")
    start, wend = _ts(q.start), _ts(q.window_end)
    if exposure_files:
        exp_src = f"read_parquet({_lit(exposure_files)})"
    else:
        exp_src = (
            "(SELECT ''::VARCHAR experiment, ''::VARCHAR variant, 0::BIGINT unit_id, "
            "TIMESTAMPTZ '1970-01-01' ts WHERE false)"
        )
    if q.population == "active":
        imp = _day_files("impressions", q.start.date(), q.window_end.date())
        if not imp:
            raise FileNotFoundError(
                "events table 'impressions' has no files for "
                f"{q.start.date()}..{q.window_end.date()} under {paths.events_dir('impressions')}."
            )
        exp_src = (
            f"(SELECT ? AS experiment, 'all' AS variant, user_id AS unit_id, ts "
            f"FROM read_parquet({_lit(imp)}))"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE exposed AS
        SELECT unit_id, min(ts) AS first_ts, arg_min(variant, ts) AS variant,
               CASE WHEN min(variant) = max(variant) THEN 1 ELSE 2 END AS n_variants
        FROM {exp_src}
        WHERE experiment = ? AND ts >= {start} AND ts < {wend}
        GROUP BY unit_id
        """,
        [q.experiment, q.experiment] if q.population == "active" else [q.experiment],
    )
    n_multi = int(con.execute("SELECT count(*) FROM exposed WHERE n_variants > 1").fetchall()[0][0])

    user_cols, user_join = _user_attributes(q)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE unit_base AS
        SELECT x.unit_id, x.variant, x.first_ts, {user_cols}
        FROM exposed x {user_join}
        WHERE x.n_variants = 1
        """
    )
    return n_multi


def _build_content_type_table(con: duckdb.DuckDBPyConnection, q: UnitQuery, name: str) -> None:
    """The unit table per (unit, content type): one SQL aggregate per event table.

    Only the ``content_type`` segment goes this way (a per-content-type breakdown has no daily
    series); every other unit table comes from :func:`_scan_events`.
    """
    start, wend, pre = _ts(q.start), _ts(q.window_end), _ts(q.pre_start)
    items = _all_files("items")
    if not items:
        raise FileNotFoundError(
            f"events table 'items' has no Parquet files under {paths.events_dir('items')}; "
            "needed for content_type / new_item_impressions."
        )
    tables = _tables_of(q.columns)
    if "requests" in tables:
        raise ValueError(
            "segment == 'content_type' is not defined for metrics on requests; "
            "a request is not of one content type."
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE items_t AS SELECT item_id, content_type, created_ts "
        f"FROM read_parquet({_lit(items)})"
    )
    parts: list[tuple[str, list[str]]] = []
    for i, (table, cols) in enumerate(tables.items()):
        files = _day_files(table, q.pre_start.date(), q.window_end.date())
        alias = f"t{i}"
        parts.append((alias, cols))
        if not files:
            sel = ", ".join(f"0::DOUBLE AS {c}, 0::DOUBLE AS pre_{c}" for c in cols)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {alias} AS SELECT 0::BIGINT unit_id, "
                f"NULL::VARCHAR AS content_type, {sel} WHERE false"
            )
            continue
        aggs = []
        for c in cols:
            expr = _COLUMN_SQL[c][1]
            aggs.append(
                f"sum(CASE WHEN e.ts >= u.first_ts AND e.ts < {wend} THEN {expr} ELSE 0 END)"
                f"::DOUBLE AS {c}"
            )
            aggs.append(f"sum(CASE WHEN e.ts < {start} THEN {expr} ELSE 0 END)::DOUBLE AS pre_{c}")
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {alias} AS
            SELECT e.user_id AS unit_id, it.content_type, {", ".join(aggs)}
            FROM read_parquet({_lit(files)}) e
            JOIN unit_base u ON u.unit_id = e.user_id
            JOIN items_t it ON it.item_id = e.item_id
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
        joins.append(f"LEFT JOIN {alias} USING (unit_id, content_type)")
    _drop(con, name)
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT {', '.join(select)} FROM "
        "(SELECT b.*, ct.content_type FROM unit_base b CROSS JOIN "
        "(SELECT unnest(['product', 'video', 'live']) AS content_type) ct) b " + " ".join(joins)
    )


def winsorize_caps(
    con: duckdb.DuckDBPyConnection, metrics: Sequence[Metric], table: str = "units"
) -> dict[str, tuple[float, float] | None]:
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
    caps: dict[str, tuple[float, float] | None] = {}
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


def metric_sql(
    m: Metric, cap: tuple[float, float] | None, prefix: str = ""
) -> tuple[str, str, str, str]:
    """SQL expressions (num, den, pre_num, pre_den) of one metric over the unit table.

    ``prefix`` renames the window columns (``clicks`` → ``<prefix>clicks``) but not the pre-period
    ones; the daily series uses it to evaluate the same metric on the previous cumulative state.
    """
    n, pn = f"{prefix}{m.numerator}", f"pre_{m.numerator}"
    if m.kind == "ratio":
        return n, f"{prefix}{m.denominator}", pn, f"pre_{m.denominator}"
    if m.kind == "proportion":
        return f"({n} > 0)::DOUBLE", "1.0", f"({pn} > 0)::DOUBLE", "1.0"
    if cap is not None:
        lo, hi = cap
        return (
            f"least(greatest({n}, {lo!r}), {hi!r})",
            "1.0",
            f"least(greatest({pn}, {lo!r}), {hi!r})",
            "1.0",
        )
    return n, "1.0", pn, "1.0"


def unit_columns_for(metrics: Sequence[Metric]) -> tuple[str, ...]:
    """Unit columns a set of metrics needs, in catalog order."""
    need = {m.numerator for m in metrics} | {m.denominator for m in metrics if m.denominator}
    return tuple(c for c in UNIT_COLUMNS if c in need)


def fetch_polars(con: duckdb.DuckDBPyConnection, table: str = "units") -> pl.DataFrame:
    """The unit table as a Polars frame (Arrow, zero-copy where DuckDB allows)."""
    return pl.from_arrow(con.sql(f"SELECT * FROM {table}").to_arrow_table())  # type: ignore[return-value]


def reduce_statistics(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[Metric],
    caps: dict[str, tuple[float, float] | None],
    *,
    by: str | None = None,
    table: str = "units",
) -> dict[tuple[str, str | None], dict[str, SufficientStatistic]]:
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
    rows = con.execute(
        f"SELECT variant{seg}, {', '.join(aggs)} FROM {table} GROUP BY ALL"
    ).fetchnumpy()
    out: dict[tuple[str, str | None], dict[str, SufficientStatistic]] = {}
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
