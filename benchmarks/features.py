"""Feature store benchmarks: training-set joins and online ranking reads.

Offline (``ranker_v1``: user_long_term, item_stats, shop_stats + two on-demand views), on the same
applied repo and the same Parquet feature tables:

- ``training_set``: shoplab's SDK -> FeatureStore.get_historical_features -> the ASOF offline store;
- ``asof_sql``: a hand-written DuckDB ASOF JOIN of the three views with the ttl check (no
  tie-breaking, no on-demand views): the lower bound;
- ``feast_builtin``: Feast's own duckdb (ibis) store on the same repo (batch views only). Its
  range join grows with label rows x feature rows per key in the ttl window; above 3M label rows
  it runs at 1M and the ratio is per row.

Online: one user x 500 distinct candidates, ``ranking_features`` (one indexed SQL read per view of
the wide SQLite online store, ``shoplab.features.online_store``, ttl check, on-demand views) next
to Feast's own ``get_online_features`` of the same batch features on the same store (Feast's
generic read path through the store's ``online_read``). Calls alternate, p50 and p99 over 300.

Each case runs in its own subprocess (peak RSS per case). Full: 10M label rows over 1M users,
200k items, 20k shops, 7 daily snapshots; quick: 50k rows over 10k users, 2k items. The online
store holds 20k users, 5k items, 500 shops in both modes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess, time_median
from shoplab.core.errors import ConfigError, InputError

__all__ = ["run"]

BASE = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 7
# run_in_subprocess re-enters this module by its installed name (under `python -m` the running
# module is `__main__`, which a child cannot import)
_MODULE = "shoplab.benchmarks.features"


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"labels": 50_000, "users": 10_000, "items": 2_000, "shops": 200}
    # SHOPLAB_BENCH_FEATURE_ROWS: a smaller full run on a busy machine (10M peaks at several GiB)
    rows = int(os.environ.get("SHOPLAB_BENCH_FEATURE_ROWS", 10_000_000))
    return {"labels": rows, "users": 1_000_000, "items": 200_000, "shops": 20_000}


def _write_tables(root: Path, users: int, items: int, shops: int, seed: int = 0) -> None:
    """Daily snapshots of the ranker_v1 views with random values (the join does not care)."""
    import polars as pl

    import shoplab.features as sf

    rng = np.random.default_rng(seed)
    os.environ["SHOPLAB_DATA"] = str(root)
    store_views = {
        "user_long_term": ("user_id", users),
        "item_stats": ("item_id", items),
        "shop_stats": ("shop_id", shops),
    }
    sf.apply_repo()
    fvs = {fv.name: fv for fv in sf.feature_store().list_feature_views()}
    for view, (key, n) in store_views.items():
        folder = root / "features" / view
        folder.mkdir(parents=True, exist_ok=True)
        for d in range(DAYS):
            stamp = BASE + timedelta(days=d + 1)
            # 90% of entities have a row on a given day: some labels fall back or get nulls
            ids = np.flatnonzero(rng.random(n) < 0.9) + 1
            cols: dict[str, object] = {
                key: ids,
                "event_timestamp": pl.Series([stamp] * ids.size, dtype=pl.Datetime("us", "UTC")),
                "created_timestamp": pl.Series([stamp] * ids.size, dtype=pl.Datetime("us", "UTC")),
            }
            for f in fvs[view].features:
                t = str(f.dtype)
                if "String" in t:
                    cols[f.name] = np.array(["a", "b", "c"])[rng.integers(0, 3, ids.size)]
                elif "Float" in t:
                    cols[f.name] = rng.random(ids.size) * 100
                else:
                    cols[f.name] = rng.integers(0, 1000, ids.size)
            if view == "item_stats":
                cols["shop_id"] = rng.integers(1, shops + 1, ids.size)
            pl.DataFrame(cols).write_parquet(folder / f"{stamp.date().isoformat()}.parquet")


def _write_labels(root: Path, n: int, users: int, items: int, shops: int, seed: int = 1) -> None:
    import polars as pl

    rng = np.random.default_rng(seed)
    us = rng.integers(0, DAYS * 86_400_000_000, n) + int(BASE.timestamp() * 1e6) + 86_400_000_000
    pl.DataFrame(
        {
            "user_id": rng.integers(1, users + 1, n),
            "item_id": rng.integers(1, items + 1, n),
            "shop_id": rng.integers(1, shops + 1, n),
            "event_timestamp": pl.Series(np.sort(us)).cast(pl.Datetime("us", "UTC")),
            "position": rng.integers(0, 50, n).astype(np.int32),
            "clicked": rng.random(n) < 0.05,
        }
    ).write_parquet(root / "labels.parquet")


def _asof_sql(root: Path) -> str:
    feats = {
        "user_long_term": ("user_id", "u"),
        "item_stats": ("item_id", "i"),
        "shop_stats": ("shop_id", "s"),
    }
    import shoplab.features as sf

    fvs = {fv.name: fv for fv in sf.feature_store().list_feature_views()}
    sel, joins = ["l.*"], []
    for view, (key, a) in feats.items():
        ttl = fvs[view].ttl
        if ttl is None:  # every view declares one (feature_repo/features.py); Feast allows none
            raise ConfigError(f"{view}.ttl == None, must be set: the ASOF bound needs it.")
        ttl_us = int(ttl / timedelta(microseconds=1))
        for f in fvs[view].features:
            sel.append(
                f"CASE WHEN {a}.event_timestamp >= l.event_timestamp - INTERVAL ({ttl_us}) "
                f"MICROSECOND THEN {a}.{f.name} END AS {view}__{f.name}"
            )
        path = root / "features" / view / "*.parquet"
        joins.append(
            f"ASOF LEFT JOIN read_parquet('{path}') {a} "
            f"ON l.{key} = {a}.{key} AND l.event_timestamp >= {a}.event_timestamp"
        )
    return f"SELECT {', '.join(sel)} FROM read_parquet('{root / 'labels.parquet'}') l " + " ".join(
        joins
    )


def _child(case: str, root_s: str, n_s: str, repeats_s: str) -> None:
    import polars as pl

    root, n, repeats = Path(root_s), int(n_s), int(repeats_s)
    os.environ["SHOPLAB_DATA"] = str(root)
    import shoplab.features as sf
    from shoplab.core.duck import shared_connection as connection

    labels = pl.read_parquet(root / "labels.parquet").head(n)
    rows = 0

    if case == "training_set":
        # Open the store (imports Feast, reads the registry: ~3 s cold) before the timer, as the
        # asof_sql case does through _asof_sql: a full run times one call with no warm-up.
        sf.feature_store()

        def fn() -> None:
            nonlocal rows
            rows = sf.training_set(labels, "ranker_v1").height
    elif case == "asof_sql":
        sql = _asof_sql(root)
        if n < pl.scan_parquet(root / "labels.parquet").select(pl.len()).collect().item():
            raise InputError(f"n == {n}, must be the labels' row count: asof_sql reads them all.")

        def fn() -> None:
            nonlocal rows
            rows = pl.DataFrame(connection().sql(sql).to_arrow_table()).height
    elif case == "feast_builtin":
        from feast.infra.offline_stores.duckdb import DuckDBOfflineStore

        store = sf.feature_store()
        service = store.get_feature_service("ranker_v1")
        from shoplab.features.services import view_name

        refs = [
            f"{view_name(p)}:{f.name}"
            for p in service.feature_view_projections
            for f in p.features
        ]
        batch = [
            r for r in refs if r.split(":")[0] in {"user_long_term", "item_stats", "shop_stats"}
        ]
        fvs = [store.get_feature_view(v) for v in ("user_long_term", "item_stats", "shop_stats")]
        entity = labels.to_pandas()

        def fn() -> None:
            nonlocal rows
            job = DuckDBOfflineStore.get_historical_features(
                store.config, fvs, batch, entity, store.registry, store.project, True
            )
            rows = job.to_arrow().num_rows
    else:
        raise InputError(f"case == {case!r}, must be training_set, asof_sql or feast_builtin.")
    median = time_median(fn, repeats=repeats, warmup=0 if repeats == 1 else 1)
    child_report(median_s=median, rows=rows)


def _online_child(root_s: str, calls_s: str) -> None:
    root, calls = Path(root_s), int(calls_s)
    os.environ["SHOPLAB_DATA"] = str(root)
    import shoplab.features as sf

    _write_tables(root, users=20_000, items=5_000, shops=500)
    sf.materialize(
        BASE + timedelta(days=DAYS, hours=12), views=["user_long_term", "item_stats", "shop_stats"]
    )

    store = sf.feature_store()
    rng = np.random.default_rng(5)
    service = store.get_feature_service("ranker_v1")
    from shoplab.features.services import view_name

    batch = [
        f"{view_name(p)}:{f.name}"
        for p in service.feature_view_projections
        for f in p.features
        if view_name(p) in {"user_long_term", "item_stats", "shop_stats"}
    ]
    as_of = BASE + timedelta(days=DAYS, hours=12)
    ours, raw = [], []
    for _ in range(calls + 20):  # first 20: warm-up (registry load, SQLite page cache)
        user = int(rng.integers(1, 20_000))
        items = rng.choice(np.arange(1, 5001), 500, replace=False).tolist()
        shops = rng.integers(1, 500, 500).tolist()
        t0 = time.perf_counter()
        sf.ranking_features(user, items, "ranker_v1", as_of=as_of)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.get_online_features(
            batch,
            {"user_id": [user] * 500, "item_id": items, "shop_id": shops},
            full_feature_names=True,
        ).to_dict()
        raw.append(time.perf_counter() - t0)
    o, r = np.array(ours[20:]) * 1e3, np.array(raw[20:]) * 1e3
    child_report(
        ours_p50=float(np.median(o)),
        ours_p99=float(np.percentile(o, 99)),
        raw_p50=float(np.median(r)),
        raw_p99=float(np.percentile(r, 99)),
    )


def run(quick: bool) -> list[Result]:
    """Run the feature-store benchmarks (quick: 100k label rows; full: 10M)."""
    size = _sizes(quick)
    work = Path(tempfile.mkdtemp(prefix="shoplab-bench-features-"))
    root = work / "data"
    root.mkdir()
    results: list[Result] = []
    try:
        run_in_subprocess(
            _MODULE,
            "setup",
            str(root),
            *(str(size[k]) for k in ("labels", "users", "items", "shops")),
        )
        n = size["labels"]
        reps = "3" if quick else "1"
        bound = run_in_subprocess(_MODULE, "asof_sql", str(root), str(n), reps)
        ours = run_in_subprocess(_MODULE, "training_set", str(root), str(n), reps)
        # Feast's join measured 20.6 s / 4.1 GiB at 3M rows; 10M would need ~3x that memory on a
        # machine shared by six engineers, so above 3M it runs at 1M and the note says so
        n_builtin = n if n <= 3_000_000 else 1_000_000
        builtin = run_in_subprocess(
            _MODULE, "feast_builtin", str(root), str(n_builtin), reps
        )
        results.append(
            Result(
                "features.training_set",
                f"asof_sql {n:,} rows",
                bound["median_s"],
                bound["peak_mib"],
                note="hand-written DuckDB ASOF JOIN: lower bound",
            )
        )
        results.append(
            Result(
                "features.training_set",
                f"training_set {n:,} rows",
                ours["median_s"],
                ours["peak_mib"],
                baseline="asof_sql",
                ratio=ours["median_s"] / bound["median_s"],
                note="FeatureStore.get_historical_features, ASOF offline store, "
                "incl. on-demand views",
            )
        )
        per_row_ours = ours["median_s"] / n
        results.append(
            Result(
                "features.training_set",
                f"feast_builtin {n_builtin:,} rows",
                builtin["median_s"],
                builtin["peak_mib"],
                baseline="training_set",
                ratio=(builtin["median_s"] / n_builtin) / per_row_ours,
                note="Feast's duckdb/ibis join, batch views only (no on-demand views)"
                + ("" if n_builtin == n else f"; at {n_builtin:,} rows, ratio per row"),
            )
        )
        # online: a small population is enough (500 indexed SQLite lookups per call)
        oroot = work / "online"
        oroot.mkdir()
        online = run_in_subprocess(
            _MODULE, "online", str(oroot), "50" if quick else "300"
        )
        results.append(
            Result(
                "features.online",
                "get_online_features p50 (500 items)",
                online["raw_p50"] / 1e3,
                online["peak_mib"],
                note="Feast direct on the same store, batch features only",
            )
        )
        results.append(
            Result(
                "features.online",
                "get_online_features p99 (500 items)",
                online["raw_p99"] / 1e3,
                online["peak_mib"],
            )
        )
        results.append(
            Result(
                "features.online",
                "ranking_features p50 (500 items)",
                online["ours_p50"] / 1e3,
                online["peak_mib"],
                baseline="get_online_features p50",
                ratio=online["ours_p50"] / online["raw_p50"],
                note="1 indexed SQL read per view (wide SQLite) + ttl check + on-demand views",
            )
        )
        results.append(
            Result(
                "features.online",
                "ranking_features p99 (500 items)",
                online["ours_p99"] / 1e3,
                online["peak_mib"],
                baseline="get_online_features p99",
                ratio=online["ours_p99"] / online["raw_p99"],
                note="goal: <= 10 ms",
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _main(argv: list[str]) -> None:
    case = argv[0]
    if case == "setup":
        root = Path(argv[1])
        n, users, items, shops = map(int, argv[2:6])
        _write_tables(root, users, items, shops)
        _write_labels(root, n, users, items, shops)
        child_report(ok=True)
    elif case == "materialize":
        os.environ["SHOPLAB_DATA"] = argv[1]
        import shoplab.features as sf

        sf.materialize(
            BASE + timedelta(days=DAYS, hours=12),
            views=["user_long_term", "item_stats", "shop_stats"],
        )
        child_report(ok=True)
    elif case == "online":
        _online_child(argv[1], argv[2])
    else:
        _child(case, *argv[1:4])


if __name__ == "__main__":
    _main(sys.argv[1:])
