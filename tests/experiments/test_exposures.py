"""Exposure log: typed append-only Parquet, concurrent appends lose nothing, first exposure."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from shoplab.core.contract import arrow_schema
from shoplab.experiments import first_exposures, log_exposures, read_exposures

T0 = datetime(2026, 1, 8, tzinfo=UTC)


def _rows(worker: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "experiment": ["exp"] * n,
            "variant": ["a" if (worker + i) % 2 else "b" for i in range(n)],
            "unit_id": [worker * 1_000_000 + i for i in range(n)],
            "ts": [T0 + timedelta(seconds=i) for i in range(n)],
        }
    )


def _append_many(worker: int, root: str, batches: int) -> None:
    for b in range(batches):
        log_exposures(_rows(worker, 100).with_columns(pl.col("unit_id") + b * 100),
                      root=Path(root))


def test_concurrent_appends_from_processes_lose_nothing(data_root: Path) -> None:
    root = data_root / "events" / "exposures"
    workers, batches = 4, 25
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker, like separate services
    procs = [ctx.Process(target=_append_many, args=(w, str(root), batches)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    files = sorted(root.glob("*.parquet"))
    assert len(files) == workers * batches
    assert not list(root.glob(".*.tmp"))  # every temporary file was renamed into place
    rows = read_exposures()
    assert rows.height == workers * batches * 100
    assert rows["unit_id"].n_unique() == workers * batches * 100
    assert pq.read_schema(files[0]).remove_metadata() == arrow_schema("exposures")


def test_first_exposures_one_row_per_unit_with_first_ts(data_root: Path) -> None:
    log_exposures(pl.DataFrame({
        "experiment": ["e1", "e1", "e1", "e2"], "variant": ["b", "a", "b", "x"],
        "unit_id": [1, 1, 2, 1],
        "ts": [T0 + timedelta(hours=2), T0 + timedelta(hours=1), T0, T0 + timedelta(hours=5)],
    }))
    log_exposures(pl.DataFrame({
        "experiment": ["e1"], "variant": ["b"], "unit_id": [2], "ts": [T0 - timedelta(hours=1)],
    }))
    first = first_exposures()
    assert first.select("experiment", "variant", "unit_id", "ts", "n_variants").rows() == [
        ("e1", "a", 1, T0 + timedelta(hours=1), 2),  # switched arms: flagged by n_variants
        ("e1", "b", 2, T0 - timedelta(hours=1), 1),
        ("e2", "x", 1, T0 + timedelta(hours=5), 1),
    ]
    assert first_exposures("e2").height == 1
    assert first.schema["ts"] == pl.Datetime("us", "UTC")


def test_empty_log_and_bad_rows(data_root: Path) -> None:
    assert first_exposures().height == 0
    assert read_exposures().height == 0
    with pytest.raises(ValueError, match=r"null counts == \{'variant': 1\}, must be 0"):
        log_exposures(pl.DataFrame({"experiment": ["e"], "variant": [None], "unit_id": [1],
                                    "ts": [T0]}, schema_overrides={"variant": pl.String}))
    with pytest.raises(ValueError, match="must include \\['ts'\\]"):
        log_exposures(pl.DataFrame({"experiment": ["e"], "variant": ["a"], "unit_id": [1]}))
    assert not (data_root / "events" / "exposures").exists() or not list(
        (data_root / "events" / "exposures").glob("*.parquet")
    )
