"""Discovery of the Parquet files of a table folder: daily partitions and the rest.

Every table folder (event tables, feature tables, exposures) holds ``*.parquet`` files; fact tables
and feature views are partitioned by day as ``YYYY-MM-DD.parquet``. Hidden files (``.x.tmp`` of an
atomic write in progress, ``.extra.parquet``) are never data: a reader that skipped them while
another read them is how analysis once saw rows validation never checked.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Final

__all__ = ["DAY_FILE", "day_files", "day_of", "file_digest", "hidden_files", "parquet_files"]

DAY_FILE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})\.parquet$")
"""The name of a daily partition: ``2026-01-08.parquet``."""


def day_of(path: str | Path) -> date | None:
    """The day of a daily partition's file name, or None when the name is not a day.

    Example:
        >>> day_of("events/clicks/2026-01-08.parquet"), day_of("clicks/extra.parquet")
        (datetime.date(2026, 1, 8), None)
    """
    match = DAY_FILE.match(Path(path).name)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:  # 2026-13-01.parquet: looks like a day, is not one
        return None


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex: the content identity of a data file (~1 GB/s here)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def parquet_files(folder: Path) -> list[Path]:
    """The visible ``*.parquet`` files of ``folder``, sorted by name ([] if it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".") and p.is_file())


def hidden_files(folder: Path) -> list[Path]:
    """Files of ``folder`` that no reader reads: hidden names (``.x``), temp files of a write."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.is_file())


def day_files(
    folder: Path, first: date | None = None, last: date | None = None
) -> dict[date, Path]:
    """The daily partitions of ``folder`` by day, optionally only days ``first..last`` inclusive.

    Files whose name is not a day are not partitions and are left out; callers that must account
    for every file use :func:`parquet_files`.
    """
    out: dict[date, Path] = {}
    for path in parquet_files(folder):
        day = day_of(path)
        if day is None or (first is not None and day < first) or (last is not None and day > last):
            continue
        out[day] = path
    return out
