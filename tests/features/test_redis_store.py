"""The same feature repo on Redis (issue 17): ``SHOPLAB_ONLINE_STORE=redis`` and nothing else.

A real ``redis-server`` (Debian's, ``.ci/run`` installs it) on a free 127.0.0.1 port, no
persistence, stopped after the module. After the same materialization Redis must hold exactly what
the SQLite store holds (every key, every value; the offline point-in-time set), null expired rows at
read time, leave no orphan after a rebuild from another world, and serve the same values through
``ranking_features`` and ``feast serve``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import redis
from polars.testing import assert_frame_equal

import shoplab.features as sf
from shoplab.core.paths import using_data_root
from shoplab.features.consistency import _online as sqlite_rows
from shoplab.features.online_store import db_path, reading_as_of, table_spec
from shoplab.features.redis_store import WideRedisOnlineStoreConfig, dump_view, index_key
from tests.eventlog import write_events
from tests.features.pushes import push_short_term, served_clicks_1h, short_term_row
from tests.features.test_feast_servers import Server, _same, _served
from tests.features.test_rebuild import (
    END,
    _assert_online_equals_offline,
    _entity_key,
    _offline_as_of,
    _world,
)
from tests.servers import free_port, start_redis

REDIS_SERVER = shutil.which("redis-server")
REDIS_YAML = "feature_repo/feature_store.redis.yaml"

# an engine test: `make test` stays on the embedded engines, `.ci/run` runs these with slow
pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 at a free port; yields its base URL (no database)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = start_redis(port, tmp_path_factory.mktemp("redis") / "redis.log")
    base = f"redis://127.0.0.1:{port}"
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _use(mp: pytest.MonkeyPatch, profile: str, url: str | None = None) -> None:
    """Select an online store profile (the one switch) for the rest of the block."""
    mp.setenv("SHOPLAB_ONLINE_STORE", profile)
    if url is not None:
        mp.setenv("SHOPLAB_REDIS_URL", url)


@pytest.fixture(scope="module")
def both_root(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Path:
    """One world, materialized up to ``END`` into SQLite and into Redis (database 0)."""
    root = tmp_path_factory.mktemp("both") / "data"
    root.mkdir()
    with using_data_root(root), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOPLAB_DATA", str(root))
        _world(root, seed=1, days=5)
        sf.build_features()
        _use(mp, "sqlite")
        sf.apply_repo()
        sf.materialize(END)
        _use(mp, "redis", redis_server + "/0")
        sf.apply_repo()
        sf.materialize(END)
    return root


@pytest.fixture
def on_both(both_root: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPLAB_DATA", str(both_root))
    monkeypatch.setenv("SHOPLAB_REDIS_URL", redis_server + "/0")
    return both_root


def assert_redis_holds_what_sqlite_holds(lite: Any) -> None:
    """The current (Redis) store holds, per view, exactly the rows of ``lite``'s SQLite file."""
    store = sf.feature_store()
    for fv in store.list_feature_views():
        feats = [f.name for f in fv.features]
        want = sqlite_rows(table_spec(store.project, fv), db_path(lite.config), feats)
        got = dump_view(store.config, fv).drop("__event_ts")
        assert got.height == want.height > 0, fv.name
        assert_frame_equal(got.sort("__ek"), want.sort("__ek"), check_dtypes=False)


def _redis_rows(fv: Any) -> pl.DataFrame:
    return dump_view(sf.feature_store().config, fv).drop("__event_ts")


def test_redis_holds_every_key_and_value_the_sqlite_store_holds(
    on_both: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "sqlite")
    sizes = _assert_online_equals_offline(on_both, END)  # SQLite == offline, every key and value
    lite = sf.feature_store()
    lite_online = lite._get_provider().online_store
    _use(monkeypatch, "redis")
    store = sf.feature_store()
    assert type(store._get_provider().online_store).__name__ == "WideRedisOnlineStore"
    online = store._get_provider().online_store
    for fv in store.list_feature_views():
        feats = [f.name for f in fv.features]
        spec = table_spec(store.project, fv)
        want = sqlite_rows(spec, db_path(lite.config), feats).sort("__ek")
        got = _redis_rows(fv).sort("__ek")
        assert got.height == want.height == sizes[fv.name], fv.name
        assert_frame_equal(got, want, check_dtypes=False)
        # the offline key set, exactly (int keys by id, composite keys by their parts)
        keys = [c.name for c in fv.entity_columns]
        offline = _offline_as_of(on_both, fv, END)
        if spec.int_key:
            assert got["__ek"].to_list() == offline[keys[0]].to_list(), fv.name
        # Feast's read contract (what `feast serve` and get_online_features use): identical
        eks = [_entity_key(keys, row) for row in offline.select(keys).iter_rows()]
        eks.append(_entity_key(keys, tuple(-5 if k != "category" else "none" for k in keys)))
        with reading_as_of(END):
            assert online.online_read(store.config, fv, eks) == lite_online.online_read(
                lite.config, fv, eks
            ), fv.name


def test_redis_nulls_expired_rows_at_read_time(
    on_both: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, "redis")
    store = sf.feature_store()
    online = store._get_provider().online_store
    fv = store.get_feature_view("user_short_term")  # ttl 2 h
    keys = [c.name for c in fv.entity_columns]
    eks = [_entity_key(keys, row) for row in _offline_as_of(on_both, fv, END).select(keys).rows()]
    assert eks
    with reading_as_of(END):
        fresh = online.online_read(store.config, fv, eks)
    with reading_as_of(END + timedelta(hours=3)):
        late = online.online_read(store.config, fv, eks)
    assert all(values is not None for _, values in fresh)
    # expired: the stamp stays, the values go (Feast serves null, status NOT_FOUND)
    assert [(ts, None) for ts, _ in fresh] == late
    user = int(eks[0].entity_values[0].int64_val)
    got = sf.ranking_features(user, [1, 2], "ranker_v2", as_of=END + timedelta(hours=3))
    assert got["user_short_term__stale"].to_list() == [True, True]
    assert got["user_short_term__clicks_1h"].to_list() == [None, None]
    assert got["user_long_term__stale"].to_list() == [False, False]  # 30-day ttl: still fresh


@pytest.mark.parametrize("service", ["ranker_v1", "ranker_v2"])
def test_ranking_features_on_redis_equal_sqlite(
    on_both: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    rng = np.random.default_rng(17)
    users = [int(u) for u in rng.choice(160, size=6, replace=False)]  # ids >= 150: unknown
    items = [int(i) for i in rng.integers(0, 100, size=120)]  # duplicates and unknown ids
    request = {"query": "mens fashion"} if service == "ranker_v2" else None
    compared = 0
    for as_of in (END, END + timedelta(minutes=90), END + timedelta(hours=3)):
        for user in users:
            _use(monkeypatch, "sqlite")
            want = sf.ranking_features(user, items, service, request, as_of=as_of)
            _use(monkeypatch, "redis")
            assert isinstance(sf.feature_store().config.online_store, WideRedisOnlineStoreConfig)
            got = sf.ranking_features(user, items, service, request, as_of=as_of)
            assert_frame_equal(got, want)
            compared += int(want.select(pl.all().is_not_null().sum()).sum_horizontal()[0])
    assert compared > 10_000  # real values, not nulls on both sides


def test_a_rebuild_from_another_world_leaves_no_orphan_key_in_redis(
    data_root: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_server + "/1"  # a database of its own
    redis.Redis.from_url(url).flushdb()
    _use(monkeypatch, "redis", url)

    def assert_key_sets(end: datetime) -> dict[str, int]:
        store = sf.feature_store()
        sizes = {}
        for fv in store.list_feature_views():
            want = _offline_as_of(data_root, fv, end).height
            got = _redis_rows(fv)
            # the index and the stored values agree, and both are the offline key set
            assert redis.Redis.from_url(url).zcard(index_key(store.project, fv.name)) == want
            assert got.height == want, (fv.name, got.height, want)
            spec = table_spec(store.project, fv)
            if spec.int_key:
                keys = [c.name for c in fv.entity_columns]
                assert got["__ek"].sort().to_list() == (
                    _offline_as_of(data_root, fv, end)[keys[0]].to_list()
                )
            sizes[fv.name] = want
        return sizes

    _world(data_root, seed=1, days=5)
    sf.build_features()
    sf.apply_repo()
    sf.materialize(END)
    first = assert_key_sets(END)
    _world(data_root, seed=2, days=5, users=90)
    sf.build_features()
    assert sf.materialize(END)["user_short_term"] == (END - timedelta(hours=2), END)  # full
    second = assert_key_sets(END)
    assert second["user_long_term"] < first["user_long_term"]
    # later, same world: what expired by then leaves Redis too
    later = END + timedelta(hours=1)
    sf.materialize(later)
    assert_key_sets(later)
    # a Redis restarted empty is seen and reloaded, not resumed from the recorded end
    redis.Redis.from_url(url).flushdb()
    sf.materialize(later)
    assert_key_sets(later)
    gone = 120  # a user of world 1 only
    feats = sf.ranking_features(gone, [1], "ranker_v1", as_of=later)
    assert feats["user_long_term__impressions_7d"].to_list() == [None]
    assert feats["user_long_term__stale"].to_list() == [False]


@pytest.fixture(scope="module")
def fresh_both(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Path:
    """Events of the last 5 days, materialized up to the same instant into SQLite and Redis."""
    root = tmp_path_factory.mktemp("fresh_redis") / "data"
    root.mkdir()
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    with using_data_root(root), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOPLAB_DATA", str(root))
        write_events(users=120, items=80, days=5, seed=3, start=today - timedelta(days=4))
        sf.build_features()
        _use(mp, "sqlite")
        sf.apply_repo()
        sf.materialize(now)
        _use(mp, "redis", redis_server + "/2")
        redis.Redis.from_url(redis_server + "/2").flushdb()
        sf.apply_repo()
        sf.materialize(now)
    return root


@pytest.fixture(scope="module")
def serve_redis(
    fresh_both: Path, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``feast -c feature_repo -f feature_repo/feature_store.redis.yaml serve``, as users run it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOPLAB_REDIS_URL", redis_server + "/2")
        mp.delenv("SHOPLAB_ONLINE_STORE", raising=False)  # the Feast CLI reads -f, not this
        server = Server(
            ["-f", REDIS_YAML, "serve"],
            fresh_both,
            tmp_path_factory.mktemp("serve_redis") / "serve.log",
            "/health",
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("service", ["ranker_v1", "ranker_v2"])
def test_feast_serve_on_redis_answers_as_the_sqlite_store(
    serve_redis: Server,
    fresh_both: Path,
    redis_server: str,
    monkeypatch: pytest.MonkeyPatch,
    service: str,
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(fresh_both))
    monkeypatch.setenv("SHOPLAB_REDIS_URL", redis_server + "/2")
    items = pl.read_parquet(fresh_both / "events/items/*.parquet")
    yesterday = datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC)
    candidates: list[int] = (
        items.filter(pl.col("created_ts") < yesterday - timedelta(days=1))["item_id"]
        .head(20)
        .to_list()
    )
    request = {"query": "mens fashion"} if service == "ranker_v2" else None
    now = datetime.now(UTC)
    _use(monkeypatch, "sqlite")
    ours = sf.ranking_features(5, candidates, service, request, as_of=now)
    _use(monkeypatch, "redis")
    assert_frame_equal(sf.ranking_features(5, candidates, service, request, as_of=now), ours)
    entities: dict[str, list[Any]] = {
        "user_id": [5] * len(candidates),
        "item_id": candidates,
        "shop_id": ours["shop_id"].to_list(),
    }
    if service == "ranker_v2":
        entities |= {"category": ours["category"].to_list(), "query": ["mens fashion"] * 20}
    columns = [c for c in ours.columns if "__" in c and not c.endswith("__stale")]
    assert not ours.select(pl.col("^.*__stale$")).to_numpy().any()  # fresh: values to compare
    got = _served(serve_redis, service, entities, True)
    compared = 0
    for column in columns:
        want = ours[column].to_list()
        assert all(map(_same, got[column]["values"], want)), column
        statuses = got[column]["statuses"]
        assert all(s == "PRESENT" for s, v in zip(statuses, want, strict=True) if v is not None)
        compared += sum(v is not None for v in want)
    assert compared > 20 * 20


@pytest.mark.e2e
def test_feast_serve_on_redis_returns_an_expired_push_as_null(
    serve_redis: Server, fresh_both: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(fresh_both))
    _use(monkeypatch, "redis", redis_server + "/2")
    old = datetime.now(UTC) - timedelta(hours=3)  # user_short_term's ttl is 2 h

    def served() -> dict[str, Any]:
        return served_clicks_1h(serve_redis, {"user_id": [7]})

    push_short_term(short_term_row(7, old))
    expired = served()
    assert expired["values"] == [None]
    assert expired["statuses"] != ["PRESENT"]
    push_short_term(
        short_term_row(7, datetime.now(UTC)).with_columns(
            created_timestamp=pl.lit(old, pl.Datetime("us", "UTC"))
        )
    )
    fresh = served()
    assert (fresh["values"], fresh["statuses"]) == ([41], ["PRESENT"])


def test_a_write_of_some_features_keeps_the_others_as_on_sqlite(
    data_root: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push naming a subset of a view's features updates those only, on both stores."""
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    url = redis_server + "/3"
    redis.Redis.from_url(url).flushdb()
    stores = {}
    for profile in ("sqlite", "redis"):
        _use(monkeypatch, profile, url)
        sf.apply_repo()
        store = sf.feature_store()
        stores[profile] = (store, store._get_provider().online_store)
    fv = stores["sqlite"][0].get_feature_view("user_short_term")
    t0 = END - timedelta(minutes=30)
    full = {
        "clicks_1h": ValueProto(int64_val=3),
        "clicks_1d": ValueProto(int64_val=9),
        "impressions_1d": ValueProto(int64_val=40),
        "last_clicked_category": ValueProto(string_val="toys"),
    }
    some = {"clicks_1h": ValueProto(int64_val=4), "last_clicked_category": ValueProto()}
    user, other = _entity_key(["user_id"], (11,)), _entity_key(["user_id"], (12,))
    read = {}
    for profile, (store, online) in stores.items():
        online.online_write_batch(store.config, fv, [(user, full, t0, t0)], None)
        later = t0 + timedelta(minutes=5)
        online.online_write_batch(
            store.config, fv, [(user, some, later, later), (other, some, later, None)], None
        )
        with reading_as_of(END):
            read[profile] = online.online_read(store.config, fv, [user, other])
    assert read["redis"] == read["sqlite"]
    values = read["redis"][0][1]
    assert values is not None
    assert values["clicks_1h"].int64_val == 4
    assert values["clicks_1d"].int64_val == 9
    assert values["last_clicked_category"].WhichOneof("val") is None  # written as null


def test_a_redis_that_does_not_answer_is_a_clear_error(
    on_both: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.features.redis_store import RedisUnavailableError

    _use(monkeypatch, "redis", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with pytest.raises(RedisUnavailableError, match="SHOPLAB_REDIS_URL"):
        sf.ranking_features(1, [1, 2], "ranker_v1", as_of=END)
    with pytest.raises(RedisUnavailableError, match="does not answer"):
        sf.materialize(END)


@pytest.mark.spark
@pytest.mark.slow  # ~1 min: a Spark session, six views materialized through Spark into Redis
def test_the_spark_and_redis_profile_serves_what_the_embedded_engines_serve(
    data_root: Path, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both switches at once: Spark reads the offline tables, Redis serves; same values."""
    from tests.features.test_spark_offline_store import _require_pyspark

    _require_pyspark()
    _world(data_root, seed=2, days=5)
    sf.build_features()
    _use(monkeypatch, "sqlite")
    sf.apply_repo()
    sf.materialize(END)
    lite = sf.feature_store()
    labels = sf.training_labels("2026-01-02", "2026-01-05")
    duck = sf.training_set(labels, service="ranker_v2")
    rng = np.random.default_rng(3)
    users = [int(u) for u in rng.choice(160, size=4, replace=False)]
    items = [int(i) for i in rng.integers(0, 100, size=120)]
    request = {"query": "mens fashion"}
    want = {u: sf.ranking_features(u, items, "ranker_v2", request, as_of=END) for u in users}

    _use(monkeypatch, "redis", redis_server + "/3")
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    store = sf.feature_store()
    assert Path(store.repo_path).joinpath("feature_store.spark_redis.yaml").is_file()
    assert type(store._get_provider().offline_store).__name__ == "AsofSparkOfflineStore"
    assert isinstance(store.config.online_store, WideRedisOnlineStoreConfig)
    sf.apply_repo()
    sf.materialize(END)  # the reads run on Spark, the writes go to Redis
    assert_redis_holds_what_sqlite_holds(lite)
    compared = 0
    for user, expected_frame in want.items():
        got_frame = sf.ranking_features(user, items, "ranker_v2", request, as_of=END)
        assert_frame_equal(got_frame, expected_frame)
        compared += int(got_frame.select(pl.all().is_not_null().sum()).sum_horizontal()[0])
    assert compared > 1_000
    assert_frame_equal(sf.training_set(labels, service="ranker_v2"), duck, check_exact=True)
