"""The same feature repo on Spark (issue 17): ``SHOPLAB_OFFLINE_STORE=spark`` and nothing else.

A real local Spark session (``local[2]``, Java 17) joins the same Parquet feature tables as the
DuckDB store. ``training_set`` must keep its contract there: the brute-force oracle property test
of ``test_point_in_time`` (its body reused as is), the created-timestamp tie-breaker and
``filter_by_created_timestamp``, the two cases where Feast's own Spark join is wrong (a NULL
created timestamp, two-key rows whose glued keys collide), and on a built synthetic world the
exact DuckDB training set, row for row and in the same order.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import shoplab.features as sf
import tests.features.test_point_in_time as pit
from shoplab.core.errors import ConfigError
from shoplab.feature_repo.pipelines import VIEWS
from shoplab.features.repo import feature_store_yaml

spark = pytest.mark.spark
slow = pytest.mark.slow


def _require_pyspark() -> None:
    """Fail, not skip: CI installs the spark extra (``make install``), so its absence is a bug."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        pytest.fail("pyspark is not installed, must be: `make install` (the spark extra)")


@pytest.fixture
def on_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Select the Spark offline store profile (the registry is shared with the DuckDB one)."""
    _require_pyspark()
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")


@pytest.fixture
def spark_oracle(use_oracle: Path, on_spark: None) -> Path:
    """The oracle root, joined on Spark."""
    return use_oracle


def test_profile_selects_the_spark_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    assert feature_store_yaml().name == "feature_store.spark.yaml"
    monkeypatch.setenv("SHOPLAB_ONLINE_STORE", "redis")
    both = feature_store_yaml()
    assert both.name == "feature_store.spark_redis.yaml"
    # the combined profile is the two halves, not a third configuration to keep in step
    import yaml

    def load(name: str) -> dict[str, object]:
        return dict(yaml.safe_load((both.parent / name).read_text()))

    combined = load(both.name)
    assert combined["offline_store"] == load("feature_store.spark.yaml")["offline_store"]
    assert combined["online_store"] == load("feature_store.redis.yaml")["online_store"]
    assert combined["registry"] == load("feature_store.yaml")["registry"]


@spark
@slow
def test_session_conf_follows_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_pyspark()
    from shoplab.features.spark_offline_store import session_conf

    monkeypatch.setenv("SHOPLAB_SPARK_MASTER", "spark://10.0.0.1:7077")
    monkeypatch.setenv("SHOPLAB_SPARK_SHUFFLE_PARTITIONS", "24")
    conf = session_conf({"spark.sql.shuffle.partitions": "48"})
    assert conf["spark.master"] == "spark://10.0.0.1:7077"
    assert conf["spark.sql.shuffle.partitions"] == "48"  # the yaml's spark_conf comes last
    monkeypatch.setenv("SHOPLAB_SPARK_SHUFFLE_PARTITIONS", "0")
    with pytest.raises(ConfigError, match="SHOPLAB_SPARK_SHUFFLE_PARTITIONS == '0'"):
        session_conf()


@spark
@slow
def test_the_spark_profile_runs_our_store(spark_oracle: Path) -> None:
    from shoplab.features.spark_offline_store import AsofSparkOfflineStore

    store = sf.feature_store()
    assert store.config.offline_store.type.endswith("AsofSparkOfflineStore")
    assert isinstance(store._get_provider().offline_store, AsofSparkOfflineStore)  # noqa: SLF001


@spark
@slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tables=st.lists(st.lists(pit.row_spec, max_size=14), min_size=len(VIEWS), max_size=len(VIEWS)),
    label_rows=st.lists(pit.label_spec, min_size=1, max_size=25),
    dup=st.integers(0, 3),
)
def test_spark_training_set_matches_oracle(spark_oracle: Path, tables, label_rows, dup) -> None:
    """The DuckDB path's oracle property, its body unchanged, on Spark."""
    inner = pit.test_training_set_matches_oracle.hypothesis.inner_test  # type: ignore[attr-defined]
    inner(spark_oracle, tables, label_rows, dup)


@spark
@slow
def test_spark_created_timestamp_is_only_a_tie_breaker(spark_oracle: Path) -> None:
    """feast #6615 on Spark: the default join and filter_by_created_timestamp=True."""
    pit.test_created_timestamp_is_only_a_tie_breaker(spark_oracle)


@spark
@slow
def test_null_created_and_glued_keys_are_joined_right(spark_oracle: Path) -> None:
    """Where Feast's Spark join is wrong: NULL created loses values; (1, '23') meets (12, '3')."""
    views = pit._views()
    base = pit.BASE
    rows = [
        {"user_id": 1, "category": "23", "ts": base, "created": None, "rid": 1},
        {"user_id": 12, "category": "3", "ts": base, "created": base, "rid": 2},
        # equal ts, one created NULL: the row with a created timestamp wins, as on DuckDB
        {
            "user_id": 1,
            "category": "23",
            "ts": base + timedelta(hours=3),
            "created": None,
            "rid": 3,
        },
        {
            "user_id": 1,
            "category": "23",
            "ts": base + timedelta(hours=3),
            "created": base,
            "rid": 4,
        },
    ]
    for view, (k, _, f) in views.items():
        pit.write_view(view, k, f, rows if view == "user_category" else [])
    keys, _, fields = views["user_category"]
    assert keys == ["user_id", "category"]
    feature = fields[0][0]
    labels = pl.DataFrame(
        {
            "user_id": [1, 12, 1, 12, 1],
            "category": ["23", "3", "23", "23", "3"],
            "event_timestamp": [base + timedelta(hours=h) for h in (1, 1, 4, 1, 1)],
        },
        schema={
            "user_id": pl.Int64,
            "category": pl.String,
            "event_timestamp": pl.Datetime("us", "UTC"),
        },
    )
    out = sf.training_set(labels, features=[f"user_category:{feature}"])
    got = out[f"user_category__{feature}"].to_list()
    expected = [pit._value(fields[0][1], r) for r in (1, 2, 4)] + [None, None]
    assert got == expected


@spark
@slow
def test_spark_training_set_equals_duckdb_on_a_built_world(
    use_built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ranker_v2 feature of every impression of days 2-5, exactly as on DuckDB."""
    _require_pyspark()
    labels = sf.training_labels("2026-01-02", "2026-01-06")
    # duplicate rows and a shuffled order: both paths must give back the caller's order
    labels = pl.concat([labels.sample(fraction=1.0, shuffle=True, seed=3), labels.head(50)])
    duck = sf.training_set(labels, service="ranker_v2")
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    on_spark = sf.training_set(labels, service="ranker_v2")
    assert labels.height > 1_000
    feats = [c for c in duck.columns if "__" in c]
    assert len(feats) > 20
    # real values, not a column of nulls on both sides
    assert duck.select(pl.col(feats).null_count()).row(0) != tuple([duck.height] * len(feats))
    assert_frame_equal(on_spark, duck, check_exact=True)


@spark
@slow
def test_materialization_pulls_equal_duckdb_on_a_built_world(
    use_built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``feast materialize`` reads (newest row per key, every row) is DuckDB's, per view."""
    from datetime import UTC, datetime

    from shoplab.features.spark_offline_store import AsofSparkOfflineStore

    duck_store = sf.feature_store()
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    spark_store = sf.feature_store()
    start, end = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 4, 12, tzinfo=UTC)
    for fv in duck_store.list_feature_views():
        source = fv.batch_source
        keys = [c.name for c in fv.entity_columns]
        cols = [f.name for f in fv.features]
        args = (keys, cols, source.timestamp_field, source.created_timestamp_column, start, end)
        order = [*keys, source.timestamp_field]
        for pull in ("pull_latest_from_table_or_query", "pull_all_from_table_or_query"):
            duck = getattr(type(duck_store._get_provider().offline_store), pull)  # noqa: SLF001
            ours = getattr(AsofSparkOfflineStore, pull)
            expected = pl.DataFrame(duck(duck_store.config, source, *args).to_arrow()).sort(order)
            got = pl.DataFrame(ours(spark_store.config, source, *args).to_arrow()).sort(order)
            assert expected.height > 0, (fv.name, pull)
            assert_frame_equal(got.select(expected.columns), expected, check_exact=True)
