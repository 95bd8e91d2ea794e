"""File discovery: hidden and temp files are never data; only day names are partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shoplab.core.files import day_files, day_of, hidden_files, parquet_files


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    f = tmp_path / "clicks"
    f.mkdir()
    for name in (
        "2026-01-02.parquet",
        "2026-01-01.parquet",
        "2026-01-03.parquet",
        ".2026-01-04.parquet.1234.abcdef.tmp",  # an atomic write in flight
        ".2026-01-05.parquet",  # hidden: never data, even with a day name
        "2026-13-01.parquet",  # looks like a day, is not one
        "extra.parquet",
        "2026-01-06b.parquet",
        "notes.txt",
    ):
        (f / name).write_bytes(b"x")
    (f / "2026-01-07.parquet").mkdir()  # a folder is not a file
    return f


def test_parquet_files_are_the_visible_parquet_files_sorted(folder: Path) -> None:
    assert [p.name for p in parquet_files(folder)] == [
        "2026-01-01.parquet",
        "2026-01-02.parquet",
        "2026-01-03.parquet",
        "2026-01-06b.parquet",
        "2026-13-01.parquet",
        "extra.parquet",
    ]


def test_hidden_and_temp_files_are_never_listed_as_data(folder: Path) -> None:
    listed = {p.name for p in parquet_files(folder)} | {p.name for p in day_files(folder).values()}
    hidden = [p.name for p in hidden_files(folder)]
    assert hidden == [".2026-01-04.parquet.1234.abcdef.tmp", ".2026-01-05.parquet"]
    assert not listed & set(hidden)
    assert not any(n.startswith(".") or n.endswith(".tmp") for n in listed)


def test_day_files_keep_only_day_names_and_the_range(folder: Path) -> None:
    days = day_files(folder)
    assert list(days) == [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]
    assert days[date(2026, 1, 2)] == folder / "2026-01-02.parquet"
    assert list(day_files(folder, date(2026, 1, 2))) == [date(2026, 1, 2), date(2026, 1, 3)]
    assert list(day_files(folder, last=date(2026, 1, 1))) == [date(2026, 1, 1)]
    assert day_files(folder, date(2026, 1, 3), date(2026, 1, 2)) == {}


@pytest.mark.parametrize(
    ("name", "day"),
    [
        ("events/clicks/2026-01-08.parquet", date(2026, 1, 8)),
        ("2026-02-29.parquet", None),  # 2026 is not a leap year
        ("2026-13-01.parquet", None),
        ("clicks-2026-01-08.parquet", None),
        ("2026-01-08b.parquet", None),
        ("2026-01-08.parquet.tmp", None),
        ("2026-01-08.csv", None),
        ("20260108.parquet", None),
    ],
)
def test_day_of(name: str, day: date | None) -> None:
    assert day_of(name) == day


def test_a_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert parquet_files(tmp_path / "nope") == []
    assert hidden_files(tmp_path / "nope") == []
    assert day_files(tmp_path / "nope") == {}
