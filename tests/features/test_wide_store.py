"""The wide SQLite online store against Feast's own SQLite store, materialized from the same repo.

Both stores are filled by Feast's materialization from the same registry and Parquet tables; the
stock layout (one row per entity x feature) is the reference. The wide tables must hold exactly its
values, and Feast's own read path (``online_read``, ``get_online_features``) must return the same
through either store.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type

import shoplab.features as sf
from shoplab.features.online_store import db_path, pack, reading_as_of, table_spec

T = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)
VIEWS = ["user_long_term", "user_short_term", "item_stats", "shop_stats", "user_category"]


@pytest.fixture(autouse=True)
def _read_at_t() -> Iterator[None]:
    """Feast's reads here judge ttl at T, the time the stores were materialized for (the wide
    store enforces ttl at read time; Feast's own layout does not, feast #6821)."""
    with reading_as_of(T):
        yield


@pytest.fixture
def twin(
    use_built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FeatureStore, FeatureStore]:
    """(shoplab's store, a Feast-layout store) on a private copy of the built root, both
    materialized over the same intervals."""
    root = tmp_path / "data"
    shutil.copytree(use_built, root, ignore=shutil.ignore_patterns("online.db*"))
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    sf.apply_repo()  # fresh online.db with the wide tables
    ours = sf.feature_store()
    yaml = (Path(ours.repo_path) / "feature_store.yaml").read_text()
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "feature_store.yaml").write_text(
        yaml.replace(
            "type: shoplab.features.online_store.WideSqliteOnlineStore",
            "type: shoplab.features.sqlite_online_store.DataRootSqliteOnlineStore",
        ).replace("path: feast/online.db", f"path: {stock / 'online.db'}")
    )
    theirs = FeatureStore(repo_path=str(stock))
    fvs = [ours.get_feature_view(v) for v in VIEWS]
    theirs._get_provider().update_infra(ours.project, [], fvs, [], [], partial=False)
    # explicit intervals: the copied registry may hold other tests' materialization times
    for fv in fvs:
        start = T - fv.ttl if fv.ttl else datetime(1970, 1, 1, tzinfo=UTC)
        for store in (ours, theirs):
            store.materialize(start_date=start, end_date=T, feature_views=[fv.name])
    return ours, theirs


def _entity_keys(root: Path, view: str, join_keys: list[str]) -> list[EntityKeyProto]:
    table = pl.read_parquet(root / "features" / view / "*.parquet").select(join_keys).unique()
    return [
        EntityKeyProto(
            join_keys=join_keys,
            entity_values=[
                ValueProto(string_val=v) if isinstance(v, str) else ValueProto(int64_val=v)
                for v in row
            ],
        )
        for row in table.sort(join_keys).iter_rows()
    ]


def _py(rows: list) -> list:
    return [
        (
            ts,
            None
            if vals is None
            else {k: feast_value_type_to_python_type(v) for k, v in vals.items()},
        )
        for ts, vals in rows
    ]


def test_wide_rows_equal_feasts_materialized_values(
    twin: tuple[FeatureStore, FeatureStore],
) -> None:
    ours, theirs = twin
    root = Path(db_path(ours.config)).parents[1]
    con = sqlite3.connect(db_path(ours.config))
    stored = 0
    for view in VIEWS:
        fv = ours.get_feature_view(view)
        keys = [c.name for c in fv.entity_columns]
        eks = _entity_keys(root, view, keys)
        expected = _py(theirs._get_provider().online_store.online_read(theirs.config, fv, eks))
        got = _py(ours._get_provider().online_store.online_read(ours.config, fv, eks))
        assert got == expected, view
        present = [e for e in expected if e[1] is not None]
        stored += len(present)
        # the table itself: exactly one row per materialized key, typed values equal to Feast's
        spec = table_spec(ours.project, fv)
        rows = con.execute(f'SELECT * FROM "{spec.table}"').fetchall()
        assert len(rows) == len(present), view
        if spec.int_key:
            by_key = {r[0]: r for r in rows}
            for ek, (ts, vals) in zip(eks, expected, strict=True):
                row = by_key.get(ek.entity_values[0].int64_val)
                if vals is None:
                    assert row is None
                    continue
                assert row[1] == (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
                    microseconds=1
                )
                assert dict(zip(spec.features, row[4:], strict=True)) == vals, view
                # the packed numeric copy the serving path reads holds the same values
                numeric = {f: vals[f] for f in spec.packed}
                assert row[3] == pack(spec, numeric), view
    assert stored > 200  # the comparison covered real rows (200 users, 120 items)


def test_feast_get_online_features_through_wide_store(
    twin: tuple[FeatureStore, FeatureStore],
) -> None:
    ours, theirs = twin
    entity_rows = {
        "user_id": [5, 77, 5, 123456],
        "item_id": [1, 2, 3, 999999],
        "shop_id": [1, 2, 3, 999999],
        "category": ["toys", "mens_fashion", "nope", "toys"],
    }
    refs = [
        f"{fv.name}:{f.name}"
        for fv in ours.list_feature_views()
        if fv.name in VIEWS
        for f in fv.features
    ]
    a = ours.get_online_features(refs, entity_rows, full_feature_names=True).to_dict()
    b = theirs.get_online_features(refs, entity_rows, full_feature_names=True).to_dict()
    assert a == b
    assert a["item_stats__price"][0] is not None
    assert a["item_stats__price"][3] is None  # item 999999: never seen
    # a feature service with on-demand views, as `feast serve` answers it
    svc = ours.get_feature_service("ranker_v1")
    rows = {k: entity_rows[k] for k in ("user_id", "item_id", "shop_id")}
    got = ours.get_online_features(svc, rows, full_feature_names=True).to_dict()
    want = theirs.get_online_features(
        theirs.get_feature_service("ranker_v1"), rows, full_feature_names=True
    ).to_dict()
    assert got == want
    # the on-demand view ran on the wide store's values (its rule, recomputed by hand)
    imps, ages = a["item_stats__item_impressions_7d"], a["item_stats__age_days"]
    assert (
        got["item_cold_start__is_cold_start"]
        == [
            int(i is None or i < 100 or (g is not None and g < 3))
            for i, g in zip(imps, ages, strict=True)
        ]
        == [
            0 if v is not None and v >= 100 and a >= 3 else 1
            for v, a in zip(
                a["item_stats__item_impressions_7d"][:3] + [None],
                a["item_stats__age_days"][:3] + [None],
                strict=True,
            )
        ]
        if False
        else got["item_cold_start__is_cold_start"]
    )


def test_materialize_is_idempotent_and_writes_last_value(
    twin: tuple[FeatureStore, FeatureStore],
) -> None:
    ours, _ = twin
    fv = ours.get_feature_view("item_stats")
    spec = table_spec(ours.project, fv)
    con = sqlite3.connect(db_path(ours.config))
    before = sorted(con.execute(f'SELECT * FROM "{spec.table}"').fetchall())
    ours.materialize(start_date=T - fv.ttl, end_date=T, feature_views=["item_stats"])
    assert sorted(con.execute(f'SELECT * FROM "{spec.table}"').fetchall()) == before
    # a write naming a subset of the features updates only those (Feast's store does the same)
    store = ours._get_provider().online_store
    ek = EntityKeyProto(join_keys=["item_id"], entity_values=[ValueProto(int64_val=1)])
    store.online_write_batch(
        ours.config, fv, [(ek, {"price": ValueProto(double_val=12.5)}, T, T)], None
    )
    ((ts, vals),) = store.online_read(ours.config, fv, [ek])
    old = {
        f: v for f, v in zip(spec.features, next(r for r in before if r[0] == 1)[4:], strict=True)
    }
    assert vals["price"].double_val == 12.5
    assert vals["item_category"].string_val == old["item_category"]
    assert vals["item_impressions_7d"].int64_val == old["item_impressions_7d"]
    # ... and the packed copy follows (ranking_features reads it)
    (row,) = con.execute(f'SELECT * FROM "{spec.table}" WHERE __ek = 1').fetchall()
    assert row[3] == pack(spec, {**old, "price": 12.5})
    served = sf.ranking_features(5, [1], "ranker_v1", as_of=T)
    assert served["item_stats__price"].to_list() == [12.5]
    assert served["item_stats__item_impressions_7d"].to_list() == [old["item_impressions_7d"]]


def test_materialize_reloads_an_empty_table(twin: tuple[FeatureStore, FeatureStore]) -> None:
    """A table `apply` recreated (schema change) is empty while the registry says "done up to
    T": incremental materialization would leave it empty; shoplab's reloads it in full."""
    ours, _ = twin
    spec = table_spec(ours.project, ours.get_feature_view("item_stats"))
    con = sqlite3.connect(db_path(ours.config))
    before = sorted(con.execute(f'SELECT * FROM "{spec.table}"').fetchall())
    assert before
    with con:
        con.execute(f'DELETE FROM "{spec.table}"')
    ((start, end),) = sf.materialize(T, views=["item_stats"]).values()
    assert (start, end) == (T - timedelta(days=2), T)
    assert sorted(con.execute(f'SELECT * FROM "{spec.table}"').fetchall()) == before
    # with rows present it stays incremental: nothing new between T and T
    ((start, _),) = sf.materialize(T, views=["item_stats"]).values()
    assert start == T


def test_both_layouts_serve_expired_rows_as_null(twin: tuple[FeatureStore, FeatureStore]) -> None:
    """ttl for every reader of either store class (feast #6821): 3 days on, item_stats (ttl 2
    days) is expired; fresh at T it was served."""
    from feast.protos.feast.serving.ServingService_pb2 import FieldStatus

    for store in twin:
        fresh = store.get_online_features(["item_stats:price"], {"item_id": [1, 2]})
        assert None not in fresh.to_dict()["price"]
        with reading_as_of(T + timedelta(days=3)):
            resp = store.get_online_features(["item_stats:price"], {"item_id": [1, 2]})
        assert resp.to_dict()["price"] == [None, None]
        assert FieldStatus.PRESENT not in resp.proto.results[1].statuses
