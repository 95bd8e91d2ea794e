"""Spark offline store: ``training_set`` on Spark ``local[2]`` against the DuckDB path, same data.

One applied repo and one set of Parquet feature tables (``ranker_v1``'s views: daily snapshots of
user_long_term, item_stats, shop_stats, written by :mod:`shoplab.benchmarks.features`' setup),
one label file; ``shoplab.training_set(labels, "ranker_v1")`` runs on each profile of
``SHOPLAB_OFFLINE_STORE`` in its own subprocess (peak RSS per case). The Spark case reports the
session start (JVM launch included, paid once per process) apart from the join, and the JVM's own
peak RSS (py4j runs it as a child process, outside the Python process's VmHWM).

``spark.pipelines``: ``build_features`` (every view, every day) on the Spark engine against the
DuckDB engine over the same simulated event log (quick: 20k users x 5 days; full: 200k x 14,
``SHOPLAB_BENCH_SPARK_PIPELINE_USERS``), one build each in its own subprocess; the session start
is reported apart.

Sizes: quick 100k label rows over 10k users; full 1M over 1M users
(``SHOPLAB_BENCH_SPARK_ROWS=10000000`` for the 10M run). Quick runs also time Feast's own Spark
join (``SparkOfflineStore`` over ``SparkSource`` twins of the views, batch views only): the trial
measured it in minutes at 1M, so full runs leave it out. Without pyspark or Java the area reports
why and nothing else.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoplab.benchmarks.harness import Result, child_report, run_in_subprocess, time_median
from shoplab.core.errors import InputError, StateError

__all__ = ["run"]

_MODULE = "shoplab.benchmarks.spark"


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"labels": 100_000, "users": 10_000, "items": 2_000, "shops": 200}
    rows = int(os.environ.get("SHOPLAB_BENCH_SPARK_ROWS", 1_000_000))
    return {"labels": rows, "users": 1_000_000, "items": 200_000, "shops": 20_000}


def _jvm_peak_mib(session: object) -> float | None:
    """VmHWM of the session's JVM (local mode: driver and executors), from /proc."""
    try:
        pid = session.sparkContext._jvm.ProcessHandle.current().pid()  # type: ignore[attr-defined]  # noqa: SLF001
        for line in open(f"/proc/{pid}/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except (OSError, AttributeError):
        return None
    return None


def _child(engine: str, root_s: str, repeats_s: str) -> None:
    import polars as pl

    root, repeats = Path(root_s), int(repeats_s)
    os.environ["SHOPLAB_DATA"] = str(root)
    if engine not in ("duckdb", "spark", "feast_spark"):
        raise InputError(f"engine == {engine!r}, must be duckdb, spark or feast_spark.")
    os.environ["SHOPLAB_OFFLINE_STORE"] = "duckdb" if engine == "duckdb" else "spark"
    import shoplab.features as sf

    labels = pl.read_parquet(root / "labels.parquet")
    sf.feature_store()  # Feast's imports and the registry (~3 s cold) before any timer
    startup_s = 0.0
    session = None
    if engine != "duckdb":
        from shoplab.features.spark_offline_store import spark_session

        t0 = time.perf_counter()
        session = spark_session()
        startup_s = time.perf_counter() - t0
    rows = 0

    def fn() -> None:
        nonlocal rows
        rows = sf.training_set(labels, "ranker_v1").height

    if engine == "feast_spark":
        fn = _feast_spark_join(labels, root)

    median = time_median(fn, repeats=repeats, warmup=0 if repeats == 1 else 1)
    if engine == "feast_spark":
        rows = labels.height  # checked inside the call
    if rows != labels.height:
        raise StateError(f"training_set rows == {rows}, must be {labels.height}.")
    jvm = _jvm_peak_mib(session) if session is not None else None
    child_report(median_s=median, startup_s=startup_s, rows=rows, jvm_peak_mib=jvm)


def _feast_spark_join(labels: Any, root: Path) -> Callable[[], None]:
    """Feast's own Spark join of ranker_v1's batch views, each over a ``SparkSource`` twin.

    The twin reads the view's folder (Feast's Spark store takes a path Spark can list, not the
    ``*.parquet`` glob); on-demand views are left out, so this baseline does less work.
    """
    import shoplab.features as sf

    with warnings.catch_warnings():  # Feast's spark module resets RuntimeWarning filters
        from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
            SparkOfflineStore,
        )
        from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import (
            SparkSource,
        )

    store = sf.feature_store()
    views = ("user_long_term", "item_stats", "shop_stats")
    fvs = []
    for name in views:
        fv = store.get_feature_view(name)
        src = fv.batch_source
        if src is None:
            raise StateError(f"feature view {name!r} has no batch source, must have one.")
        fv.batch_source = SparkSource(
            name=f"{name}_spark",
            path=str(root / "features" / name),
            file_format="parquet",
            timestamp_field=src.timestamp_field,
            created_timestamp_column=src.created_timestamp_column,
        )
        fvs.append(fv)
    refs = [f"{fv.name}:{f.name}" for fv in fvs for f in fv.features]
    entity = labels.select("user_id", "item_id", "shop_id", "event_timestamp").to_pandas()

    def fn() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "experimental, alpha", every call
            job = SparkOfflineStore.get_historical_features(
                store.config, fvs, refs, entity, store.registry, store.project, True
            )
            table = job.to_arrow()
        if table.num_rows != len(entity):
            raise StateError(f"Feast's Spark join rows == {table.num_rows}, must be {len(entity)}.")

    return fn


def _pipeline_sizes(quick: bool) -> tuple[int, int]:
    if quick:
        return 20_000, 5
    return int(os.environ.get("SHOPLAB_BENCH_SPARK_PIPELINE_USERS", 200_000)), 14


def _pipelines_setup(root_s: str, users_s: str, days_s: str) -> None:
    from datetime import date

    os.environ["SHOPLAB_DATA"] = root_s
    from shoplab.simulator import simulate

    users = int(users_s)
    simulate(users=users, items=max(500, users // 10), days=int(days_s), seed=1,
             start=date(2026, 1, 1))
    child_report()


def _pipelines(root_s: str, engine: str) -> None:
    """One ``build_features`` on ``engine`` (the Spark session started before the clock)."""
    os.environ["SHOPLAB_DATA"] = root_s
    from shoplab.features.repo import build_features

    startup_s = 0.0
    if engine == "spark":
        from shoplab.features.spark_offline_store import spark_session

        t0 = time.perf_counter()
        spark_session()
        startup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = build_features(engine=engine)
    child_report(build_s=time.perf_counter() - t0, startup_s=startup_s,
                 rows=sum(report.rows.values()), partitions=len(report.days) * len(report.rows))


def _pipeline_results(quick: bool) -> list[Result]:
    users, days = _pipeline_sizes(quick)
    work = Path(tempfile.mkdtemp(prefix="shoplab-bench-spark-pipelines-"))
    root = work / "data"
    root.mkdir()
    try:
        run_in_subprocess(_MODULE, "pipelines_setup", str(root), str(users), str(days))
        duck = run_in_subprocess(_MODULE, "pipelines", str(root), "duckdb")
        spark = run_in_subprocess(_MODULE, "pipelines", str(root), "spark")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if spark["rows"] != duck["rows"]:
        raise StateError(f"Spark built {spark['rows']} rows, DuckDB {duck['rows']}: must match.")
    what = f"{users:,} users x {days} days, {int(duck['partitions'])} partitions"
    return [
        Result("spark.pipelines", f"duckdb build ({what})", duck["build_s"], duck["peak_mib"],
               note=f"{int(duck['rows']):,} feature rows"),
        Result("spark.pipelines", f"spark local[2] build ({what})", spark["build_s"],
               spark["peak_mib"], baseline="duckdb build", ratio=spark["build_s"] / duck["build_s"],
               note=f"same SQL transpiled; session start {spark['startup_s']:.1f} s apart"),
    ]


def _unavailable() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed: pip install -e '.[spark]'"
    try:
        from shoplab.features.spark_offline_store import java_executable

        java_executable()
    except StateError as exc:
        return str(exc)
    return None


def run(quick: bool) -> list[Result]:
    """Both offline stores on one world (quick: 100k label rows, 3 runs each; full: 1M, 1 run)."""
    why = _unavailable()
    if why is not None:
        return [Result("spark.training_set", "skipped", 0.0, note=why)]
    size = _sizes(quick)
    work = Path(tempfile.mkdtemp(prefix="shoplab-bench-spark-"))
    root = work / "data"
    root.mkdir()
    try:
        run_in_subprocess(
            "shoplab.benchmarks.features",
            "setup",
            str(root),
            *(str(size[k]) for k in ("labels", "users", "items", "shops")),
        )
        n = size["labels"]
        reps = "3" if quick else "1"
        duck = run_in_subprocess(_MODULE, "duckdb", str(root), reps)
        spark = run_in_subprocess(_MODULE, "spark", str(root), reps)
        feast = run_in_subprocess(_MODULE, "feast_spark", str(root), reps) if quick else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    jvm = spark.get("jvm_peak_mib")
    extra = []
    if feast is not None:
        extra.append(
            Result(
                "spark.training_set",
                f"feast spark {n:,} rows",
                feast["median_s"],
                feast["peak_mib"],
                baseline="spark local[2]",
                ratio=feast["median_s"] / spark["median_s"],
                note="Feast's own Spark join over SparkSource twins, batch views only",
            )
        )
    return [
        Result(
            "spark.training_set",
            f"duckdb {n:,} rows",
            duck["median_s"],
            duck["peak_mib"],
            note="training_set(ranker_v1), ASOF DuckDB store",
        ),
        Result(
            "spark.training_set",
            f"spark local[2] {n:,} rows",
            spark["median_s"],
            spark["peak_mib"],
            baseline="duckdb",
            ratio=spark["median_s"] / duck["median_s"],
            note="same call, SHOPLAB_OFFLINE_STORE=spark; "
            + (f"JVM peak {jvm:,.0f} MiB" if jvm else "JVM peak not read"),
        ),
        Result(
            "spark.training_set",
            "spark session start",
            spark["startup_s"],
            note="JVM launch + SparkSession, once per process (not in the join's median)",
        ),
        *extra,
        *_pipeline_results(quick),
    ]


def _main(argv: list[str]) -> None:
    case = argv[0]
    if case == "pipelines_setup":
        _pipelines_setup(*argv[1:4])
    elif case == "pipelines":
        _pipelines(*argv[1:3])
    else:
        _child(*argv[:3])


if __name__ == "__main__":
    _main(sys.argv[1:])
