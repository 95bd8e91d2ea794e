"""A rebuild replaces, never mixes (issue 12): feature partitions and the online store follow the
event log that is there now, not the union of every world ever built into the data root."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import feast_value_type_to_python_type

import shoplab.features as sf
from shoplab.feature_repo.pipelines import VIEWS
from shoplab.feature_repo.pipelines.manifest import read_manifest, view_version
from shoplab.features.online_store import db_path, reading_as_of, table_spec
from tests.eventlog import write_events

END = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)  # mid-day: the hourly view has a row at 13:00


def _world(root: Path, seed: int, days: int, users: int = 150) -> None:
    shutil.rmtree(root / "events", ignore_errors=True)
    write_events(users=users, items=90, days=days, seed=seed, requests_per_day=300)


def _served_world(root: Path, seed: int, days: int) -> None:
    """A world built, applied and materialized up to ``END``."""
    _world(root, seed=seed, days=days)
    sf.build_features()
    sf.apply_repo()
    sf.materialize(END)


def test_build_over_a_shorter_log_removes_the_old_days(data_root: Path) -> None:
    _world(data_root, seed=1, days=10)
    sf.build_features()
    assert len(list((data_root / "features/item_stats").glob("*.parquet"))) == 10
    _world(data_root, seed=2, days=5)
    report = sf.build_features()
    for view in VIEWS:
        days = sorted(p.stem for p in (data_root / "features" / view).glob("*.parquet"))
        assert days == [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(5)]
        assert read_manifest()["views"][view]["version"] == view_version(view)
    assert len(report.removed) == len(VIEWS) * 5  # days 6-10 of the old world, every view


def _offline_as_of(root: Path, fv: Any, end: datetime) -> pl.DataFrame:
    """Point in time as of ``end``: the newest row per key with end - ttl <= ts <= end."""
    keys = [c.name for c in fv.entity_columns]
    table = pl.read_parquet(root / "features" / fv.name / "*.parquet")
    lo = end - fv.ttl
    return (
        table.filter(pl.col("event_timestamp").is_between(lo, end))
        .sort(["event_timestamp", "created_timestamp"])
        .group_by(keys, maintain_order=True)
        .last()
        .sort(keys)
    )


def _entity_key(keys: list[str], row: tuple[Any, ...]) -> EntityKeyProto:
    values = [
        ValueProto(string_val=v) if isinstance(v, str) else ValueProto(int64_val=v) for v in row
    ]
    return EntityKeyProto(join_keys=keys, entity_values=values)


def _assert_online_equals_offline(root: Path, end: datetime) -> dict[str, int]:
    store = sf.feature_store()
    online = store._get_provider().online_store
    con = sqlite3.connect(db_path(store.config))
    sizes = {}
    for fv in store.list_feature_views():
        keys = [c.name for c in fv.entity_columns]
        feats = [f.name for f in fv.features]
        want = _offline_as_of(root, fv, end)
        spec = table_spec(store.project, fv)
        # the full key set: as many online rows as offline keys, and every offline key found
        (count,) = con.execute(f'SELECT count(*) FROM "{spec.table}"').fetchone()
        assert count == want.height, (fv.name, count, want.height)
        if spec.int_key:
            online_keys = sorted(r[0] for r in con.execute(f'SELECT __ek FROM "{spec.table}"'))
            assert online_keys == want[keys[0]].to_list(), fv.name
        eks = [_entity_key(keys, row) for row in want.select(keys).iter_rows()]
        with reading_as_of(end):
            got = online.online_read(store.config, fv, eks)
        for (ts, values), row in zip(got, want.iter_rows(named=True), strict=True):
            assert values is not None, (fv.name, row)
            assert ts == row["event_timestamp"], (fv.name, row)
            served = {f: feast_value_type_to_python_type(values[f]) for f in feats}
            assert served == {f: row[f] for f in feats}, (fv.name, row)
        sizes[fv.name] = want.height
    return sizes


def test_materialize_after_a_rebuild_from_another_world_leaves_no_orphans(
    data_root: Path,
) -> None:
    _served_world(data_root, seed=1, days=5)
    first = _assert_online_equals_offline(data_root, END)
    # seed 2, fewer users: many of world 1's keys do not exist any more
    _world(data_root, seed=2, days=5, users=90)
    sf.build_features()
    ((start, end),) = {
        k: v for k, v in sf.materialize(END).items() if k == "user_short_term"
    }.values()
    assert (start, end) == (END - timedelta(hours=2), END)  # a full reload, not "from END"
    second = _assert_online_equals_offline(data_root, END)
    assert second["user_long_term"] < first["user_long_term"]
    # the same version again: incremental, nothing to load, still equal
    assert sf.materialize(END)["item_stats"] == (END, END)
    _assert_online_equals_offline(data_root, END)
    # later, same world: what expired between END and END + 1h leaves the online store too
    later = END + timedelta(hours=1)
    sf.materialize(later)
    _assert_online_equals_offline(data_root, later)
    # a user of world 1 only gets nothing, and is not "fresh" either
    gone = 120  # ids >= 90 exist only in world 1 (150 users vs 90)
    feats = sf.ranking_features(gone, [1], "ranker_v1", as_of=END)
    assert feats["user_long_term__impressions_7d"].to_list() == [None]
    assert feats["user_long_term__stale"].to_list() == [False]


def test_a_partial_build_over_a_changed_log_rebuilds_every_day_and_says_so(
    data_root: Path,
) -> None:
    """``features build --start --end`` after the log changed: days outside the range would keep
    the old world's rows, so the build widens to every day and its note says why."""
    from shoplab.events import load_events

    _world(data_root, seed=1, days=6)
    first_version = load_events().version
    report = sf.build_features()
    assert report.event_log["status"] == "validated"
    assert report.event_log["version"] == first_version
    assert report.notes == ()
    assert {v["event_log"] for v in read_manifest()["views"].values()} == {first_version}

    _world(data_root, seed=2, days=6)
    second_version = load_events().version
    assert second_version != first_version
    report = sf.build_features(date(2026, 1, 3), date(2026, 1, 4))
    assert report.days == tuple(date(2026, 1, 1) + timedelta(days=i) for i in range(6))
    (note,) = report.notes
    assert "event log changed since the last build" in note
    assert second_version in note
    assert "2026-01-03..2026-01-04" in note
    manifest = read_manifest()
    assert manifest["event_log"]["version"] == second_version
    assert {v["event_log"] for v in manifest["views"].values()} == {second_version}
    # every partition is world 2's: a fresh build into another root gives the same bytes' rows
    rebuilt = pl.read_parquet(data_root / "features" / "item_stats" / "*.parquet")
    shutil.rmtree(data_root / "features")
    sf.build_features()
    fresh = pl.read_parquet(data_root / "features" / "item_stats" / "*.parquet")
    keys = ["item_id", "event_timestamp"]
    assert (
        rebuilt.drop("created_timestamp")
        .sort(keys)
        .equals(fresh.drop("created_timestamp").sort(keys))
    )

    # the same log again: the range is honoured, nothing to say
    assert sf.build_features(date(2026, 1, 3), date(2026, 1, 4)).notes == ()
    # materialization records which log its tables came from
    sf.apply_repo()
    sf.materialize(datetime(2026, 1, 7, tzinfo=UTC))
    from shoplab.features import materialized

    assert {v.event_log for v in materialized.load().views.values()} == {second_version}


def test_a_build_over_an_unvalidated_log_says_so_loudly(data_root: Path) -> None:
    _world(data_root, seed=1, days=2)
    report = sf.build_features()
    assert report.event_log["status"] == "unvalidated"
    assert report.event_log["version"].startswith("raw:")
    (note,) = report.notes
    assert "never validated" in note
    assert "shoplab events validate" in note


def test_the_full_key_set_check_finds_an_orphan_a_missing_key_and_a_changed_value(
    data_root: Path,
) -> None:
    """``features.consistency`` compares every key (the dashboard's panel once sampled 50)."""
    from shoplab.features.consistency import compare_view
    from shoplab.features.wide_table import quote

    _served_world(data_root, seed=1, days=5)
    store = sf.feature_store()
    views = {fv.name: fv for fv in store.list_feature_views()}
    sizes = _assert_online_equals_offline(data_root, END)
    for name, fv in views.items():
        check = compare_view(store, fv, END)
        assert check.consistent, (name, check.rows)
        assert check.offline_keys == check.online_keys == sizes[name]
        assert check.compared == sizes[name] * (len(fv.features) - len(check.not_compared))

    fv = views["user_long_term"]
    spec = table_spec(store.project, fv)
    con = sqlite3.connect(db_path(store.config))
    with con:
        (first, second) = [
            r[0] for r in con.execute(f'SELECT __ek FROM "{spec.table}" ORDER BY __ek LIMIT 2')
        ]
        con.execute(
            f'INSERT INTO "{spec.table}" SELECT 10000 + __ek, __event_ts, __created_ts, __packed, '
            + ", ".join(quote(f) for f in spec.features)
            + f' FROM "{spec.table}" WHERE __ek = ?',
            (first,),
        )
        con.execute(f'DELETE FROM "{spec.table}" WHERE __ek = ?', (second,))
        con.execute(
            f'UPDATE "{spec.table}" SET "impressions_7d" = impressions_7d + 1 WHERE __ek = ?',
            (first,),
        )
    con.close()
    check = compare_view(store, fv, END)
    assert (check.orphans, check.missing, check.mismatches) == (1, 1, 1)
    assert not check.consistent
    assert set(check.rows["feature"].to_list()) == {"<orphan>", "<missing>", "impressions_7d"}
    changed = check.rows.filter(pl.col("feature") == "impressions_7d")
    assert int(changed["online"][0]) == int(changed["offline"][0]) + 1

    composite = views["user_category"]  # a two-part key: joined on Feast's serialized key bytes
    assert compare_view(store, composite, END).consistent
