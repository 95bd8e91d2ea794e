"""Find the files of an event table and check that each one can be read as that table.

Checked from the Parquet footer only (no data read), so this costs milliseconds per file. String
columns may be ``string`` or ``large_string`` (Polars/pyarrow write the latter, DuckDB and Spark
the former; both are UTF-8 strings in Parquet); every other type must match the contract exactly:
ids ``int64``, ``position``/``quantity`` ``int32``, timestamps ``timestamp[us, tz=UTC]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from shoplab.core.contract import TABLES, arrow_schema
from shoplab.core.files import day_of
from shoplab.core.paths import events_dir
from shoplab.events.errors import EventLogError

__all__ = ["FACT_TABLES", "EventFile", "check_schema", "discover", "discover_all", "log_end_us"]

FACT_TABLES: Final = tuple(name for name, t in TABLES.items() if t.daily)
_DAY_US: Final = 86_400_000_000
_UTC_NAMES: Final = frozenset({"UTC", "Etc/UTC", "+00:00", "Z"})


@dataclass(frozen=True)
class EventFile:
    """One Parquet file of a table: its path, row count, and the day it covers (daily tables)."""

    table: str
    path: Path
    rows: int
    day: date | None

    @property
    def day_bounds_us(self) -> tuple[int, int] | None:
        """``[day 00:00, next day 00:00)`` in µs since the epoch, UTC; None when undated."""
        if self.day is None:
            return None
        lo = int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
                 .timestamp()) * 1_000_000
        return lo, lo + _DAY_US


def _same_type(found: pa.DataType, expected: pa.DataType) -> bool:
    if pa.types.is_large_string(expected):
        return bool(pa.types.is_string(found) or pa.types.is_large_string(found)
                    or pa.types.is_string_view(found))
    if pa.types.is_timestamp(expected):
        return bool(pa.types.is_timestamp(found) and found.unit == "us" and found.tz in _UTC_NAMES)
    return bool(found.equals(expected))


def check_schema(table: str, path: Path) -> int:
    """Check ``path`` is a Parquet file with every contract column of ``table``; return its rows.

    Raises:
        EventLogError: not Parquet, a contract column missing, or a column of the wrong type.
    """
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise EventLogError(
            f"{path}: not a Parquet file ({exc}); every file of events/{table}/ must be Parquet.",
            path=path,
        ) from None
    for field in arrow_schema(table):
        expected = str(field.type)
        idx = schema.get_field_index(field.name)
        if idx < 0:
            raise EventLogError(
                f"{path}: column {field.name!r} is missing, must be present with type {expected}.",
                path=path, column=field.name, expected=expected,
            )
        found = schema.field(idx).type
        if not _same_type(found, field.type):
            raise EventLogError(
                f"{path}: column {field.name!r} has type {found}, must be {expected}.",
                path=path, column=field.name, expected=expected,
            )
    return int(meta.num_rows)


def discover(table: str, problems: list[EventLogError] | None = None) -> list[EventFile]:
    """Every file of ``table`` (sorted by name), each checked with :func:`check_schema`.

    Hidden files (``.name``: in-flight temporary writes) are skipped; any other file that is not
    ``*.parquet`` is an error, not silently ignored.

    Args:
        table: the table whose folder ``events/<table>/`` is listed.
        problems: when given, a bad file's error is appended here and the file left out, so a
            caller can report every bad file at once; when None, the first bad file raises.

    Raises:
        EventLogError: a bad file, only when ``problems`` is None.
    """
    folder = events_dir(table)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        try:
            if path.suffix != ".parquet":
                raise EventLogError(
                    f"{path}: not a Parquet file (name must end in .parquet); "
                    f"every file of events/{table}/ must be Parquet.",
                    path=path,
                )
            rows = check_schema(table, path)
        except EventLogError as exc:
            if problems is None:
                raise
            problems.append(exc)
            continue
        # a daily file is named by its day (core.files.DAY_FILE); any other name is undated, and
        # its rows are checked against the end of the log instead of a day
        day = day_of(path) if TABLES[table].daily else None
        out.append(EventFile(table=table, path=path, rows=rows, day=day))
    return out


def discover_all(tables: Sequence[str]) -> dict[str, list[EventFile]]:
    """:func:`discover` every table, checking every file before failing on any.

    A user who fixes one broken file should not have to re-run to learn about the next one, so
    every file of every table is checked and all the bad ones are reported in one error.

    Raises:
        EventLogError: one or more bad files. With one, it is that file's own error; with more,
            its message lists every file with its rule (``problems`` holds each file's error).
    """
    problems: list[EventLogError] = []
    files = {t: discover(t, problems) for t in tables}
    if len(problems) == 1:
        raise problems[0]
    if problems:
        # numbered: a file's own message may hold a ';' (the not-Parquet one does)
        listed = " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise EventLogError(
            f"bad files == {len(problems)}, must be 0 (every file must be readable as its "
            f"table): {listed}",
            problems=tuple(problems),
        )
    return files


def log_end_us(files: dict[str, list[EventFile]]) -> int | None:
    """End of the log: 00:00 UTC after the newest daily file of any fact table (None if none)."""
    ends = [f.day_bounds_us[1] for t in FACT_TABLES for f in files.get(t, []) if f.day_bounds_us]
    return max(ends) if ends else None
