"""SQL relations over the event log: only the daily files a window needs, typed when empty.

File discovery is :mod:`shoplab.core.files` (hidden and temp files are never read, names that are
not a day are not partitions); this module only turns the files into relations: DuckDB's
``read_parquet`` by default, or what the build's engine registers (:func:`reading_with`: Spark
registers the files as a temporary view and the SQL names the view).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from shoplab.core.contract import TABLES
from shoplab.core.duck import sql_list
from shoplab.core.files import day_files, parquet_files
from shoplab.core.paths import events_dir

__all__ = ["Reader", "dim", "reading_with", "stamp", "ts_literal", "window"]

Reader = Callable[[str, list[str]], str]
"""(table, files) -> the SQL relation reading them (a table expression or a view's name)."""
_READER: ContextVar[Reader | None] = ContextVar("shoplab_pipeline_reader", default=None)


@contextmanager
def reading_with(reader: Reader | None) -> Iterator[None]:
    """Within the block, :func:`window` and :func:`dim` read files through ``reader``."""
    token = _READER.set(reader)
    try:
        yield
    finally:
        _READER.reset(token)

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Datetime: "TIMESTAMPTZ",
}


def _empty(table: str) -> str:
    """A relation with the table's contract columns and no row (a window without files)."""
    cols = ", ".join(
        f"CAST(NULL AS {_SQL_TYPES[type(c.dtype)]}) AS {c.name}" for c in TABLES[table].columns
    )
    return f"(SELECT {cols} WHERE FALSE)"


def _read(table: str, files: list[str]) -> str:
    if not files:
        return _empty(table)
    reader = _READER.get()
    return reader(table, files) if reader is not None else f"read_parquet({sql_list(files)})"


def window(table: str, first: date, last: date) -> str:
    """A relation over the daily files of fact ``table`` for days ``first..last`` (inclusive)."""
    files = day_files(events_dir(table), first, last)
    return _read(table, [str(files[d]) for d in sorted(files)])


def dim(table: str) -> str:
    """A relation over every file of a dimension table (users, items, shops)."""
    return _read(table, [str(p) for p in parquet_files(events_dir(table))])


def stamp(day: date) -> datetime:
    """The event timestamp of a daily snapshot of ``day``: 00:00 UTC of the next day.

    Example:
        >>> stamp(date(2026, 1, 1)).isoformat()
        '2026-01-02T00:00:00+00:00'
    """
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def ts_literal(ts: datetime) -> str:
    """A TIMESTAMPTZ literal (UTC).

    Example:
        >>> ts_literal(datetime(2026, 1, 1, tzinfo=UTC))
        "TIMESTAMPTZ '2026-01-01T00:00:00+00:00'"
    """
    return f"TIMESTAMPTZ '{ts.astimezone(UTC).isoformat()}'"
