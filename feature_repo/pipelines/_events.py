"""SQL relations over the event log: only the daily files a window needs, typed when empty."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from shoplab.core.contract import TABLES
from shoplab.core.paths import events_dir

__all__ = ["day_files", "dim", "stamp", "ts_literal", "window"]

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.String: "VARCHAR",
    pl.Boolean: "BOOLEAN",
    pl.Datetime: "TIMESTAMPTZ",
}


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _empty(table: str) -> str:
    cols = ", ".join(
        f"CAST(NULL AS {_SQL_TYPES[type(c.dtype)]}) AS {c.name}" for c in TABLES[table].columns
    )
    return f"(SELECT {cols} WHERE FALSE)"


def day_files(table: str) -> dict[date, str]:
    """Return the daily files of a fact table, by day (``YYYY-MM-DD.parquet``)."""
    folder = events_dir(table)
    out: dict[date, str] = {}
    for p in sorted(folder.glob("*.parquet")):
        try:
            out[date.fromisoformat(p.stem)] = str(p)
        except ValueError:
            continue  # not a daily partition (e.g. a temp file)
    return out


def window(table: str, first: date, last: date) -> str:
    """A relation over the daily files of ``table`` for days ``first..last`` (inclusive)."""
    files = day_files(table)
    picked = [files[d] for d in sorted(files) if first <= d <= last]
    if not picked:
        return _empty(table)
    return f"read_parquet([{', '.join(map(_lit, picked))}])"


def dim(table: str) -> str:
    """A relation over every file of a dimension table (users, items, shops)."""
    picked = sorted(str(p) for p in events_dir(table).glob("*.parquet"))
    if not picked:
        return _empty(table)
    return f"read_parquet([{', '.join(map(_lit, picked))}])"


def stamp(day: date) -> datetime:
    """The event timestamp of a daily snapshot of ``day``: 00:00 UTC of the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def ts_literal(ts: datetime) -> str:
    """A TIMESTAMPTZ literal (UTC)."""
    return f"TIMESTAMPTZ '{ts.astimezone(UTC).isoformat()}'"
