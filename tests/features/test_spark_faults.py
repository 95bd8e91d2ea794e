"""A Spark job killed while it builds a training set or a saved dataset (issue 17, faults).

Two ways a job dies on a real local Spark session: an operator cancels it (what Spark's UI or
``cancelAllJobs`` does to a job that runs too long), and the JVM itself is killed (SIGKILL, as
the OOM killer or a lost node would). What must hold: a clear ``SparkJobError`` (a
``StateError``) saying what ran and what to do; nothing half-written: the staged label file and
the temp view are gone, and a saved dataset's previous file is intact (no partial Parquet, no
temp file left); a re-run gives exactly the DuckDB training set, after a dead JVM on a new one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import shoplab.features as sf
from shoplab.core.errors import StateError
from tests.features.test_spark_offline_store import _require_pyspark

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _labels() -> pl.DataFrame:
    """Every impression of days 2-5, eight times over: a join that runs for a few seconds."""
    labels = sf.training_labels("2026-01-02", "2026-01-06")
    return pl.concat([labels] * 8)


def _kill_while_running(
    work: Callable[[], Any], kill: Callable[[], None], *, until_done: bool = True
) -> BaseException:
    """Run ``work`` in a thread, ``kill`` once a Spark job of it is active; return its error.

    ``until_done``: keep killing every 50 ms until the work ends (a query runs as several jobs
    and materialization one per view: a cancel that lands between two jobs cancels nothing).
    """
    from shoplab.features.spark_offline_store import spark_session

    tracker = spark_session().sparkContext.statusTracker()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 (handed to the test thread)
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 120
    while not tracker.getActiveJobsIds() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert thread.is_alive(), "the job finished before it could be killed"
    kill()
    stop = time.monotonic() + 300
    while until_done and thread.is_alive() and time.monotonic() < stop:
        thread.join(0.05)
        if thread.is_alive():
            kill()
    thread.join(300)
    assert not thread.is_alive()
    assert errors, "the killed job returned as if it had finished"
    return errors[0]


def _no_staged_labels(root: Path) -> None:
    assert not list((root / "spark" / "staging").glob("labels-*.parquet"))
    from shoplab.features.spark_offline_store import spark_session

    views = [t.name for t in spark_session().catalog.listTables() if t.name.startswith("__labels")]
    assert views == []


def test_a_cancelled_job_is_a_clear_error_and_leaves_nothing(
    use_built: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _require_pyspark()
    from feast.infra.offline_stores.file_source import SavedDatasetFileStorage

    from shoplab.features.spark_offline_store import spark_session

    labels = _labels()
    duck = sf.training_set(labels, service="ranker_v2")
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    context = spark_session().sparkContext

    error = _kill_while_running(
        lambda: sf.training_set(labels, service="ranker_v2"), context.cancelAllJobs
    )
    assert isinstance(error, sf.SparkJobError), repr(error)
    assert isinstance(error, StateError)
    message = str(error)
    assert "point-in-time join" in message, message
    assert "cancelled" in message, message
    assert "Re-run" in message, message
    _no_staged_labels(use_built)

    # a saved dataset: the previous file survives a cancelled overwrite whole
    target = tmp_path / "saved" / "train.parquet"
    store = sf.feature_store()
    entity = labels.to_pandas()  # keys, request fields (query, category) and outcomes
    refs = store.get_feature_service("ranker_v2")
    store.get_historical_features(entity_df=entity.head(100), features=refs).persist(
        SavedDatasetFileStorage(path=str(target))
    )
    before = target.read_bytes()
    job = store.get_historical_features(entity_df=entity, features=refs)
    error = _kill_while_running(
        lambda: job.persist(SavedDatasetFileStorage(path=str(target)), allow_overwrite=True),
        context.cancelAllJobs,
    )
    assert isinstance(error, sf.SparkJobError), repr(error)
    with pytest.raises(StateError, match="cannot run again"):  # its labels are released
        job.persist(SavedDatasetFileStorage(path=str(target)), allow_overwrite=True)
    assert target.read_bytes() == before
    assert pq.read_table(target).num_rows == 100
    assert sorted(p.name for p in target.parent.iterdir()) == ["train.parquet"]
    _no_staged_labels(use_built)

    again = sf.training_set(labels, service="ranker_v2")  # the same session, after the cancel
    assert_frame_equal(again, duck, check_exact=True)


def test_a_killed_jvm_is_a_clear_error_and_a_rerun_starts_a_new_one(
    use_built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_pyspark()
    from shoplab.features.spark_offline_store import _jvm_process, spark_session

    labels = _labels()
    duck = sf.training_set(labels, service="ranker_v2")
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    old = _jvm_process(spark_session())
    assert old is not None, "the session must own its JVM for this test"

    error = _kill_while_running(
        lambda: sf.training_set(labels, service="ranker_v2"),
        lambda: os.kill(old.pid, signal.SIGKILL),
        until_done=False,
    )
    assert isinstance(error, sf.SparkJobError), repr(error)
    message = str(error)
    assert f"pid {old.pid}" in message, message
    assert "new Spark session" in message, message
    staging = use_built / "spark" / "staging"
    assert not list(staging.glob("labels-*.parquet"))

    again = sf.training_set(labels, service="ranker_v2")
    new = _jvm_process(spark_session())
    assert new is not None
    assert new.pid != old.pid
    assert new.poll() is None
    assert_frame_equal(again, duck, check_exact=True)


def _online_rows() -> dict[str, pl.DataFrame]:
    from shoplab.features.consistency import _online as sqlite_rows
    from shoplab.features.online_store import db_path, table_spec

    store = sf.feature_store()
    return {
        fv.name: sqlite_rows(
            table_spec(store.project, fv), db_path(store.config), [f.name for f in fv.features]
        ).sort("__ek")
        for fv in store.list_feature_views()
    }


def test_a_job_cancelled_mid_materialize_records_nothing_it_did_not_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Materialization on Spark, cancelled: the view it was reading is not recorded as loaded."""
    _require_pyspark()
    from shoplab.features import materialized
    from shoplab.features.online_store import db_path
    from shoplab.features.spark_offline_store import spark_session
    from tests.features.test_rebuild import END, _world

    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    _world(root, seed=3, days=5, users=2_000)
    sf.build_features()
    sf.apply_repo()
    sf.materialize(END)  # the reference: DuckDB reads, same SQLite store
    reference = _online_rows()
    Path(db_path(sf.feature_store().config)).unlink()
    materialized.state_path().unlink()
    sf.apply_repo()
    monkeypatch.setenv("SHOPLAB_OFFLINE_STORE", "spark")
    context = spark_session().sparkContext

    error = _kill_while_running(lambda: sf.materialize(END), context.cancelAllJobs)
    assert isinstance(error, sf.SparkJobError), repr(error)
    assert "for materialization" in str(error), str(error)
    recorded = set(materialized.load().views)
    assert recorded < set(reference), recorded  # the cancelled view (and later ones) not done

    sf.materialize(END)  # the re-run completes every view
    assert set(materialized.load().views) == set(reference)
    again = _online_rows()
    for view, rows in reference.items():
        assert rows.height > 0, view
        assert_frame_equal(again[view], rows, check_exact=True)
