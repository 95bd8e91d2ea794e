"""The feature pipelines on Spark write the same tables as on DuckDB, from the same SQL.

One simulated world; ``build`` on DuckDB, the tables set aside, ``build`` again with the Spark
engine (a real local session) over the same event files; every partition of every view must have
the same schema and the same rows, exactly (no float tolerance).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shoplab.core.paths import feature_tables_dir, using_data_root
from shoplab.feature_repo.pipelines import VIEWS
from shoplab.features.spark_pipelines import to_spark_sql

pytestmark = [pytest.mark.spark, pytest.mark.slow]

_KEYS = ("user_id", "item_id", "shop_id", "category", "event_timestamp")


def _frame(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    return frame.sort([c for c in _KEYS if c in frame.columns])


def test_spark_builds_the_duckdb_tables(tmp_path: Path) -> None:
    from shoplab.features.repo import build_features
    from shoplab.simulator import simulate

    root = tmp_path / "data"
    root.mkdir()
    with using_data_root(root):
        simulate(users=3_000, items=600, days=5, seed=3, start=date(2026, 1, 1))
        duck = build_features(engine="duckdb")
        for view in VIEWS:
            shutil.copytree(feature_tables_dir(view), tmp_path / "duckdb" / view)
        spark = build_features(engine="spark")
        assert "built on spark" in spark.notes
        assert spark.rows == duck.rows
        assert min(duck.rows.values()) > 0
        compared = 0
        for view in VIEWS:
            mine = sorted(feature_tables_dir(view).glob("*.parquet"))
            theirs = sorted((tmp_path / "duckdb" / view).glob("*.parquet"))
            assert [p.name for p in mine] == [p.name for p in theirs]
            for a, b in zip(mine, theirs, strict=True):
                got, want = _frame(a), _frame(b)
                assert got.schema == want.schema, (view, a.name)
                # created_timestamp is each build's own clock, one value per build
                assert got["created_timestamp"].n_unique() <= 1
                assert_frame_equal(
                    got.drop("created_timestamp"), want.drop("created_timestamp"),
                    check_exact=True,
                )
                compared += got.height
    assert compared == sum(duck.rows.values())


def test_spark_sql_of_the_pipelines_is_spark_sql(tmp_path: Path) -> None:
    """Every view's SQL transpiles, and the DuckDB-only spellings are gone from it."""
    from datetime import UTC, datetime

    with using_data_root(tmp_path):  # no event file: every relation is a typed empty SELECT
        for view, sql_of in VIEWS.items():
            text = to_spark_sql(sql_of(date(2026, 1, 3), datetime(2026, 1, 5, tzinfo=UTC)))
            for duckdb_only in ("EPOCH_US(", "::", "TIMESTAMPTZ", "GENERATE_SERIES("):
                assert duckdb_only not in text.upper(), (view, duckdb_only)
