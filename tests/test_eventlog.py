"""The shared synthetic logs (``tests/eventlog.py``) keep the event-log contract, seeded."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from shoplab.core.contract import polars_schema
from shoplab.events import load_events
from tests.eventlog import experiment_log, ts, write_events, write_table

TABLES = ("users", "shops", "items", "requests", "impressions", "clicks", "orders")


def test_write_events_passes_validation_with_nothing_quarantined(data_root: Path) -> None:
    rows = write_events(users=50, items=40, days=2, seed=3, requests_per_day=100)
    report = load_events()
    assert report.quarantined == 0, report.as_dict()
    for table in TABLES:
        assert report[table].rows_in == rows[table] > 0


def test_write_events_is_seeded_and_writes_under_the_root_given(tmp_path: Path) -> None:
    a = write_events(tmp_path / "a", users=20, items=10, days=1, seed=1)
    b = write_events(tmp_path / "b", users=20, items=10, days=1, seed=1)
    assert a == b
    for table in TABLES:
        files = sorted((tmp_path / "a" / "events" / table).glob("*.parquet"))
        assert [f.name for f in files] == [
            f.name for f in sorted((tmp_path / "b" / "events" / table).glob("*.parquet"))
        ]
        first = pl.read_parquet(files)
        assert first.equals(pl.read_parquet(tmp_path / "b" / "events" / table / "*.parquet"))
        assert first.schema == polars_schema(table)


def test_experiment_log_passes_validation_with_nothing_quarantined(data_root: Path) -> None:
    experiment_log(data_root, users=500, days=2, pre_days=1, seed=5)
    report = load_events()
    assert report.quarantined == 0, report.as_dict()
    assert report["impressions"].rows_in > 0
    assert (data_root / "events" / "exposures").is_dir()


def test_write_table_casts_to_the_contract(tmp_path: Path) -> None:
    write_table(
        tmp_path,
        "clicks",
        {"request_id": [1], "user_id": [2], "item_id": [3], "ts": [ts(0, 1.5)]},
        "day0",
    )
    frame = pl.read_parquet(tmp_path / "events" / "clicks" / "day0.parquet")
    assert frame.schema == polars_schema("clicks")
    with pytest.raises(ValueError, match="column-schema names do not match"):
        write_table(tmp_path, "clicks", {"request_id": [1], "nope": [2]}, "bad")
