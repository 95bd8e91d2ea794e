"""The SDK on a built synthetic log: leakage, online == offline, staleness, bad input."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import shoplab.features as sf
from shoplab.core.errors import InputError
from tests.eventlog import write_events

T = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)


def test_labels_one_row_per_impression(use_built: Path) -> None:
    labels = sf.training_labels("2026-01-02", "2026-01-04")
    imps = pl.read_parquet(use_built / "events/impressions/*.parquet").filter(
        pl.col("ts").is_between(
            datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC), closed="left"
        )
    )
    clicks = pl.read_parquet(use_built / "events/clicks/*.parquet")
    assert labels.height == imps.height
    assert labels["clicked"].sum() == imps.join(clicks, on=["request_id", "item_id"]).height
    assert list(labels.columns) == list(sf.LABEL_COLUMNS)


def test_leakage_perturbing_future_events_changes_nothing(
    use_built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events at or after the cutoff are rewritten; labels up to the cutoff keep their features."""
    cutoff = datetime(2026, 1, 3, 0, 0, tzinfo=UTC)  # also a daily stamp: the edge case
    labels = sf.training_labels("2026-01-02", "2026-01-05").filter(
        pl.col("event_timestamp") <= cutoff
    )
    labels = pl.concat([labels, labels.head(5).with_columns(event_timestamp=pl.lit(cutoff))])
    before = sf.training_set(labels, "ranker_v2")

    other = tmp_path / "data"
    shutil.copytree(use_built / "events", other / "events")
    rng = np.random.default_rng(3)
    for table in ("impressions", "clicks", "orders"):
        for path in (other / "events" / table).glob("*.parquet"):
            df = pl.read_parquet(path)
            future = df.filter(pl.col("ts") >= cutoff)
            # duplicate half the future rows, drop a third: counts change everywhere after cutoff
            keep = future.filter(pl.Series(rng.random(future.height) > 0.33))
            df = pl.concat([df.filter(pl.col("ts") < cutoff), keep, keep.head(keep.height // 2)])
            df.write_parquet(path)
    monkeypatch.setenv("SHOPLAB_DATA", str(other))
    sf.build_features()
    sf.apply_repo()
    after = sf.training_set(labels, "ranker_v2")
    assert after.equals(before)
    # and the perturbation was real: later labels do change
    late = sf.training_labels("2026-01-04", "2026-01-05").head(200)
    monkeypatch.setenv("SHOPLAB_DATA", str(use_built))
    late_before = sf.training_set(late, "ranker_v2")
    monkeypatch.setenv("SHOPLAB_DATA", str(other))
    assert not sf.training_set(late, "ranker_v2").equals(late_before)


def test_online_equals_offline_after_materialize(use_built: Path) -> None:
    sf.materialize(T)
    item_dim = pl.read_parquet(use_built / "events/items/*.parquet")
    # candidates exist at T (an item created later has no stats row to read its shop from)
    existing = item_dim.filter(pl.col("created_ts") < datetime(2026, 1, 4, tzinfo=UTC))
    items = [*existing["item_id"].to_list(), 9999]  # 9999: never seen
    item_dim = item_dim.select("item_id", "shop_id", "category")
    for user, query in ((5, "mens fashion"), (77, None)):
        online = sf.ranking_features(user, items, "ranker_v2", {"query": query}, as_of=T)
        labels = (
            pl.DataFrame({"item_id": items})
            .join(item_dim, on="item_id", how="left", maintain_order="left")
            .with_columns(
                user_id=pl.lit(user, pl.Int64),
                event_timestamp=pl.lit(T, pl.Datetime("us", "UTC")),
                query=pl.lit(query, pl.String),
            )
        )
        offline = sf.training_set(labels, "ranker_v2")
        feats = [c for c in offline.columns if "__" in c]
        assert online.select(feats).equals(offline.select(feats)), user
        assert not online.select(pl.col("^.*__stale$")).to_numpy().any()
    last = online.filter(pl.col("item_id") == 9999)
    assert last["item_stats__ctr_7d_smoothed"].item() is None
    assert last["item_cold_start__is_cold_start"].item() == 1


def test_online_enforces_ttl(use_built: Path) -> None:
    """feast #6821: Feast alone serves a 3-day-old row as is; ranking_features nulls and flags
    it, and so does the online store class for Feast's own readers (feast serve)."""
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    from shoplab.features.online_store import reading_as_of

    sf.materialize(T)
    later = T + timedelta(days=3)

    def raw(when: datetime) -> tuple[list[object], list[int]]:
        with reading_as_of(when):
            resp = sf.feature_store().get_online_features(
                ["item_stats:ctr_7d_smoothed"], {"item_id": [1, 2]}
            )
        return resp.to_dict()["ctr_7d_smoothed"], list(resp.proto.results[1].statuses)

    values, statuses = raw(T)  # fresh at T: Feast's own path serves the values
    assert all(v is not None for v in values)
    assert statuses == [FieldStatus.PRESENT] * 2
    values, statuses = raw(later)  # 3 days later the same rows are expired for Feast too
    assert values == [None, None]
    assert FieldStatus.PRESENT not in statuses
    feats = sf.ranking_features(5, [1, 2], "ranker_v1", as_of=later)
    assert feats["item_stats__stale"].to_list() == [True, True]
    assert feats["item_stats__ctr_7d_smoothed"].to_list() == [None, None]
    fresh = sf.ranking_features(5, [1, 2], "ranker_v1", as_of=T)
    assert fresh["item_stats__stale"].to_list() == [False, False]


def test_rebuilding_a_day_replaces_it(use_built: Path) -> None:
    from datetime import date

    path = use_built / "features/item_stats/2026-01-03.parquet"
    from polars.testing import assert_frame_equal

    before = pl.read_parquet(path).drop("created_timestamp").sort("item_id")
    sf.build_features(date(2026, 1, 3), date(2026, 1, 3))
    after = pl.read_parquet(path).drop("created_timestamp").sort("item_id")
    assert_frame_equal(after, before)  # float sums may differ in the last bit (parallel order)
    total = pl.read_parquet(use_built / "features/item_stats/*.parquet")
    assert total.select("item_id", "event_timestamp").is_duplicated().sum() == 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda L: sf.training_set(L, "ranker_v9"), sf.UnknownServiceError, "ranker_v9"),
        (
            lambda L: sf.training_set(L, features=["item_stats:nope"]),
            sf.UnknownFeatureError,
            "nope",
        ),
        (lambda L: sf.training_set(L.drop("shop_id")), sf.LabelFrameError, "shop_id"),
        (
            lambda L: sf.training_set(
                L.with_columns(pl.col("event_timestamp").dt.replace_time_zone(None))
            ),
            sf.LabelFrameError,
            "naive",
        ),
        (lambda L: sf.training_set(L.to_pandas()), sf.LabelFrameError, "polars"),
        (lambda L: sf.ranking_features(1, [1], "ranker_v9"), sf.UnknownServiceError, "ranker_v9"),
        (lambda L: sf.ranking_features(1, [], "ranker_v1"), sf.FeatureStoreError, "non-empty"),
        (
            lambda L: sf.ranking_features(1, [1], "ranker_v2", {"qurey": "x"}),
            sf.FeatureStoreError,
            "qurey",
        ),
    ],
)
def test_bad_input_is_named(use_built: Path, call, error, match) -> None:
    labels = sf.training_labels("2026-01-03", "2026-01-04").head(10)
    with pytest.raises(error, match=match):
        call(labels)


@pytest.mark.parametrize(
    ("start", "end", "match"),
    [
        ("2026-01-03T00:00:00", "2026-01-04", r"^start == '2026-01-03T00:00:00', must carry"),
        ("2026-01-04", "2026-01-04", r"^end == 2026-01-04T00:00:00\+00:00, must be > start"),
        ("2026-01-03", "soon", r"^end == 'soon', must be an ISO date"),
    ],
)
def test_training_label_dates_follow_the_one_parser(
    data_root: Path, start: str, end: str, match: str
) -> None:
    with pytest.raises(InputError, match=match):
        sf.training_labels(start, end)


def test_bare_dates_and_offsets_bound_the_labels(use_built: Path) -> None:
    """A bare date is its first instant at both ends; an offset is converted to UTC."""
    by_date = sf.training_labels("2026-01-03", "2026-01-04")
    by_offset = sf.training_labels("2026-01-03T07:00:00+07:00", "2026-01-04T00:00:00Z")
    assert by_date.height > 0
    assert by_offset.equals(by_date)
    ts = by_date["event_timestamp"]
    assert ts.min() >= datetime(2026, 1, 3, tzinfo=UTC)
    assert ts.max() < datetime(2026, 1, 4, tzinfo=UTC)


def test_pipeline_tables_match_view_schemas(use_built: Path) -> None:
    store = sf.feature_store()
    for fv in store.list_feature_views():
        cols = pl.read_parquet_schema(next((use_built / "features" / fv.name).glob("*.parquet")))
        expected = [c.name for c in fv.entity_columns] + ["event_timestamp", "created_timestamp"]
        expected += [f.name for f in fv.features]
        assert sorted(cols) == sorted(expected), fv.name
        assert cols["event_timestamp"] == pl.Datetime("us", "UTC")


def test_write_events_is_seeded(data_root: Path) -> None:
    a = write_events(users=20, items=10, days=1, seed=1)
    assert a == write_events(users=20, items=10, days=1, seed=1)


def test_generic_online_path_equals_wide_fast_path(use_built: Path) -> None:
    """Any online store goes through Feast's get_online_features; both paths agree."""
    from shoplab.features import online

    sf.materialize(T)
    store = sf.feature_store()
    plan = online.cached_plan(store, "ranker_v2")
    items = [1, 2, 3, 50, 9999, 2]
    for now in (T, T + timedelta(hours=3), T + timedelta(days=3)):
        fast = online._read_wide(store, plan, 5, items, now)
        generic = online._read_feast(store, plan, 5, items, now)
        assert fast.equals(generic), now


def test_a_saved_dataset_is_written_whole_and_not_over_another(
    use_built: Path, tmp_path: Path
) -> None:
    """``persist`` writes the job's rows; an existing file is kept unless overwriting is asked."""
    import pyarrow.parquet as pq
    from feast.errors import SavedDatasetLocationAlreadyExists
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    store = sf.feature_store()
    labels = sf.training_labels("2026-01-02", "2026-01-04").to_pandas()
    service = store.get_feature_service("ranker_v2")
    target = tmp_path / "saved" / "train.parquet"
    storage = SavedDatasetFileStorage(path=str(target))
    small = store.get_historical_features(entity_df=labels.head(10), features=service)
    small.persist(storage)
    assert pq.read_table(target).equals(small.to_arrow())
    job = store.get_historical_features(entity_df=labels, features=service)
    with pytest.raises(SavedDatasetLocationAlreadyExists, match=str(target)):
        job.persist(storage)
    assert pq.read_table(target).num_rows == 10  # untouched
    job.persist(storage, allow_overwrite=True)
    assert pq.read_table(target).num_rows == len(labels) > 10
    assert [p.name for p in target.parent.iterdir()] == ["train.parquet"]  # no temp file left
