"""The Spark profile's Feast offline store: the point-in-time join as one Spark window per view.

``SHOPLAB_OFFLINE_STORE=spark`` (shoplab) or ``feast -c feature_repo -f
feature_repo/feature_store.spark.yaml ...`` (the Feast CLI) selects this store instead of
:class:`~shoplab.features.offline_store.AsofDuckDBOfflineStore`; the feature definitions and the
Parquet feature tables do not change. The views keep their ``FileSource``: Spark reads the same
``<view>/*.parquet`` glob the DuckDB store reads (``parquet.`<glob>``` in Spark SQL), so one
registry serves both profiles and no ``SparkSource`` twin has to be kept in step.

Why not Feast's own Spark join: the trial on this machine (``shared/DESIGN.md``) found it gives
wrong values in two cases (a feature row with a NULL ``created_timestamp`` loses its values; on a
view with two keys the row id glues the keys without a separator, so (1, 23) and (12, 3)
collide: ``user_category`` is such a view), and it is a range join (label rows x feature rows per
key) that took 3.6-19 min for 1M labels. Here each view is a union of its feature rows and the
label rows, ordered per entity key by (timestamp, label after feature, created timestamp), and
each label takes the last feature row before it (``last_value(..., true)`` over a running
window): the same rule as the DuckDB ASOF JOIN, one shuffle and one sort per view, O(n log n).
The matched row is nulled when it is older than ``t - ttl``. Labels get their features back by
row id (one equi-join per view) and every label row survives, duplicates included.
``filter_by_created_timestamp=True`` (feast #6615) adds ``created <= t``, which a running window
cannot express: those calls run a range join with ``max_by`` on (ts, created), still on Spark.

``entity_df`` may be a pandas DataFrame, a pyarrow Table, a Spark DataFrame or a DuckDB SQL
string on :func:`shoplab.core.duck.shared_connection` (what ``training_set`` passes, as for the
DuckDB store); anything not already on Spark is staged as one Parquet file under
``$SHOPLAB_DATA/spark/staging`` (or the yaml's ``staging_location``), which a cluster must see.
Materialization (``pull_latest_from_table_or_query``, ``pull_all_from_table_or_query``) also
runs in Spark SQL over the same files.

The session (one per process, started on first use; the JVM start is the fixed cost: 16-21 s
on an idle machine in the trial) is configured explicitly, because Spark's defaults are tuned for
clusters and hurt on one machine:

- ``spark.master``: ``$SHOPLAB_SPARK_MASTER``, default ``local[2]`` (the CI machine's two cores).
- ``spark.driver.memory``: ``$SHOPLAB_SPARK_DRIVER_MEMORY``, default ``4g``; in local mode the
  executors live in the driver JVM (1M labels took a ~3.7 GB JVM in the trial).
- ``spark.sql.shuffle.partitions``: ``$SHOPLAB_SPARK_SHUFFLE_PARTITIONS``, default 8 (Spark's 200
  makes 200 tiny sort tasks per window on two cores); adaptive execution coalesces further.
- ``spark.sql.autoBroadcastJoinThreshold``: 64 MB, so the small views (shops, items) join as
  broadcasts instead of shuffles.
- ``spark.sql.session.timeZone``: ``UTC``; timestamps are compared as instants, and printed and
  returned in UTC as everywhere else in shoplab.
- ``spark.sql.parquet.outputTimestampType``: ``TIMESTAMP_MICROS``, and staged labels are written
  as ``timestamp[us, UTC]``: the event-log contract's unit (nanosecond files show up in Spark as
  a misleading "Unable to find table").
- ``spark.sql.execution.arrow.pyspark.enabled``: results come back through Arrow
  (``DataFrame.toArrow``), never row by row through py4j.
- ``spark.ui.enabled``: off (a web server per test process is noise); the yaml's ``spark_conf``
  is applied last and can turn anything back on.

Java 17 is required (``JAVA_HOME`` or ``java`` on ``PATH``); :func:`java_executable` says how to
install it when absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast.data_source import DataSource
from feast.feature_view import FeatureView
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.on_demand_feature_view import OnDemandFeatureView
from feast.repo_config import RepoConfig
from pydantic import StrictStr

from shoplab.core.duck import shared_connection
from shoplab.core.errors import StateError
from shoplab.core.paths import data_root
from shoplab.core.settings import settings
from shoplab.features.errors import FeatureTableMissingError, SparkJobError
from shoplab.features.offline_store import (
    ROW_ID,
    AsofRetrievalJob,
    _event_timestamp_col,
    _join_key_map,
)
from shoplab.features.quiet import contain_feast_cli_noise
from shoplab.features.services import view_name

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

contain_feast_cli_noise()  # Feast imports this module for every command that opens the store

with warnings.catch_warnings():
    # Feast's spark module calls warnings.simplefilter("once", RuntimeWarning) at import, for the
    # whole process; the context undoes it (pytest's filterwarnings = error stays in force)
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
        SparkOfflineStore,
        SparkOfflineStoreConfig,
    )

__all__ = [
    "AsofSparkOfflineStore",
    "AsofSparkOfflineStoreConfig",
    "SparkRetrievalJob",
    "build_spark_sql",
    "java_executable",
    "spark_job",
    "session_conf",
    "spark_session",
]

_ROW: Final = "__row"  # the label row id inside the join (ROW_ID when the caller gives one)
_LOCK = threading.Lock()
_SESSION: list[SparkSession] = []


class AsofSparkOfflineStoreConfig(SparkOfflineStoreConfig):
    """Config of :class:`AsofSparkOfflineStore` (Feast's ``spark`` options: ``spark_conf``...)."""

    type: StrictStr = "shoplab.features.spark_offline_store.AsofSparkOfflineStore"


def java_executable() -> str:
    """Return the ``java`` Spark will start: ``$JAVA_HOME/bin/java``, else ``java`` on PATH.

    Raises:
        StateError: no Java runtime is found (with the command that installs one).

    Example:
        >>> java_executable().endswith("java")
        True
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
        raise StateError(
            f"JAVA_HOME == {home!r}, must hold bin/java: point it at a Java 17 runtime or unset it."
        )
    found = shutil.which("java")
    if found is None:
        raise StateError(
            "java is not on PATH, must be a Java 17 runtime for the spark offline store: "
            "Debian/Ubuntu `apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    return found


def session_conf(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The Spark settings of the session (see the module docstring for why each one).

    Args:
        extra: the yaml's ``spark_conf``, applied last.

    Example:
        >>> conf = session_conf({"spark.ui.enabled": "true"})
        >>> conf["spark.sql.session.timeZone"], conf["spark.ui.enabled"]
        ('UTC', 'true')
    """
    s = settings()
    conf = {
        "spark.master": s.spark_master,
        "spark.app.name": "shoplab-offline-store",
        "spark.driver.memory": s.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(s.spark_shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.autoBroadcastJoinThreshold": str(64 * 1024 * 1024),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Spark's own temporary files go under the data root, like DuckDB's spill
        "spark.local.dir": str(data_root() / "spark" / "local"),
    }
    conf.update(extra or {})
    return conf


def spark_session(extra: dict[str, str] | None = None) -> SparkSession:
    """Return this process's Spark session, starting it (and its JVM) on first use.

    A session another component already started is reused as is (Spark allows one per JVM).

    Raises:
        StateError: no Java runtime (see :func:`java_executable`).
    """
    with _LOCK:
        if _SESSION and _SESSION[0]._sc._jsc is not None:  # noqa: SLF001 (None once stopped)
            if _jvm_alive(_SESSION[0]):
                return _SESSION[0]
            _forget_dead_jvm()
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is None:
            java_executable()
            builder = SparkSession.builder
            for key, value in session_conf(extra).items():
                builder = builder.config(key, value)
            active = builder.getOrCreate()
            active.sparkContext.setLogLevel("ERROR")
        _SESSION[:] = [active]
        return active


def _jvm_process(session: SparkSession) -> Any:
    """The ``Popen`` of the JVM pyspark launched for ``session`` (None when it attached to one)."""
    return getattr(session._sc._gateway, "proc", None)  # noqa: SLF001 (pyspark keeps it there)


def _jvm_alive(session: SparkSession, wait_s: float = 0.0) -> bool:
    """Whether the session's JVM still runs; ``wait_s``: give a killed one time to be reaped."""
    proc = _jvm_process(session)
    if proc is None:
        return True
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        return True
    return False


def _forget_dead_jvm() -> None:
    """Drop pyspark's handles on a JVM that died, so the next builder launches a new one.

    pyspark keeps the gateway, the context and the session in class attributes and reuses them
    forever; after a killed JVM every call would fail with a connection error instead.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    SparkContext._active_spark_context = None  # noqa: SLF001
    SparkContext._gateway = None  # noqa: SLF001
    SparkContext._jvm = None  # noqa: SLF001
    SparkSession._instantiatedSession = None  # noqa: SLF001
    SparkSession._activeSession = None  # noqa: SLF001
    _SESSION.clear()


@contextlib.contextmanager
def spark_job(description: str, session: SparkSession | None = None) -> Iterator[SparkSession]:
    """Run the block's Spark jobs as one job group; a cancelled or failed job: ``SparkJobError``.

    The group (``shoplab-<hex>``, shown in Spark's UI with ``description``) is what an operator
    cancels (``SparkContext.cancelJobGroup``); results come back as one Arrow table, whole or not
    at all, so a killed job leaves nothing half-returned. SQL errors (a missing column, a bad
    path) are not job failures and pass through as Spark raised them.
    """
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors.exceptions.captured import CapturedException

    spark = session or spark_session()
    group = f"shoplab-{uuid.uuid4().hex[:12]}"
    context = spark.sparkContext
    context.setJobGroup(group, description, interruptOnCancel=True)
    try:
        yield spark
    except (Py4JError, CapturedException, OSError) as exc:
        if not _is_job_failure(spark, exc):
            raise
        raise _job_error(spark, group, description, exc) from exc
    finally:
        if _jvm_alive(spark):
            context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
            context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def _is_job_failure(spark: SparkSession, exc: BaseException) -> bool:
    """A failed, cancelled or orphaned job (re-run it), not a bug to fix (passes through).

    An ``AnalysisException`` is a SQL error unless analysis ran the job that was cancelled
    (schema inference of a Parquet glob) or the JVM died under it; any other exception the JVM
    raised is a job failure; a bare py4j error ("Answer from Java side is empty") or a socket
    error is one only when the JVM is gone (with it alive it is a Python-side bug).
    """
    from py4j.protocol import Py4JJavaError, Py4JNetworkError
    from pyspark.errors import AnalysisException
    from pyspark.errors.exceptions.captured import CapturedException

    if isinstance(exc, AnalysisException):
        return _cancel_line(_detail(exc)) is not None or not _jvm_alive(spark)
    if isinstance(exc, Py4JJavaError | Py4JNetworkError | CapturedException):
        return True
    return not _jvm_alive(spark, wait_s=2)


def _job_error(
    spark: SparkSession, group: str, description: str, exc: BaseException
) -> SparkJobError:
    # an exception the JVM raised proves it answered: no wait for a killed one to be reaped
    answered = getattr(exc, "java_exception", None) is not None or hasattr(exc, "_origin")
    alive = _jvm_alive(spark, wait_s=0 if answered else 2)
    text = _detail(exc) if alive else str(exc)
    cancelled = _cancel_line(text)
    lines = [line.strip(" :") for line in text.splitlines() if line.strip(" :")]
    cause = next((x for x in lines if "Exception" in x), lines[0] if lines else type(exc).__name__)
    if not alive:
        proc = _jvm_process(spark)
        return SparkJobError(
            f"Spark job group {group} ({description}): the Spark JVM (pid {proc.pid}) exited "
            f"with code {proc.returncode} while the job ran; nothing was returned. Re-run the "
            "step: the next call starts a new Spark session."
        )
    if cancelled is not None:
        return SparkJobError(
            f"Spark job group {group} ({description}) was cancelled while it ran: "
            f"{cancelled[:300]}; "
            "nothing was returned. Re-run the step."
        )
    return SparkJobError(
        f"Spark job group {group} ({description}) failed: {cause[:300]}; nothing was returned. "
        "Re-run the step once the cause is fixed (the Spark log has the stack trace)."
    )


def _detail(exc: BaseException) -> str:
    """The exception with the JVM's side: pyspark's captured stack trace (causes included)."""
    return f"{getattr(exc, '_desc', '')}\n{getattr(exc, '_stackTrace', '')}\n{exc}"


def _cancel_line(text: str) -> str | None:
    """The line saying a job was cancelled (Spark's ``SPARK_JOB_CANCELLED``), if any."""
    return next(
        (
            line.strip()
            for line in text.splitlines()
            if "JOB_CANCELLED" in line or " cancelled " in line
        ),
        None,
    )


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _path_literal(path: str) -> str:
    return _q(path)


def _file_source(fv_name: str, source: DataSource | None) -> tuple[FileSource, str]:
    """The view's FileSource and its Parquet glob, which must match files."""
    if not isinstance(source, FileSource):
        raise TypeError(
            f"feature view {fv_name!r}: batch source is a {type(source).__name__}, "
            "must be a FileSource (Parquet files)"
        )
    import glob

    path = source.path
    if not glob.glob(path):
        raise FeatureTableMissingError(
            f"feature view {fv_name!r}: no Parquet files match {path!r}; "
            "run `shoplab features build` first."
        )
    return source, path


def build_spark_sql(
    labels: str,
    label_columns: list[str],
    feature_views: list[FeatureView],
    feature_refs: list[str],
    full_feature_names: bool,
    event_timestamp_col: str,
    filter_by_created_timestamp: bool = False,
) -> str:
    """Return the Spark SQL of the point-in-time join of the label view ``labels``.

    ``labels`` must have a unique integer column ``__row`` (the label row id) besides
    ``label_columns``; the result has the label columns and one column per feature.
    """
    t = f"__l.{_q(event_timestamp_col)}"
    ctes = []
    selects = [f"__l.{_q(c)}" for c in label_columns]
    joins = []
    for i, fv in enumerate(feature_views):
        prefix = view_name(fv.projection)
        features = [r.split(":", 1)[1] for r in feature_refs if r.startswith(f"{prefix}:")]
        base = fv.projection.name_alias or fv.name
        out = [f"{base}__{f}" if full_feature_names else f for f in features]
        source, path = _file_source(fv.name, fv.batch_source)
        to_source = {v: k for k, v in source.field_mapping.items()}
        keys = _join_key_map(fv)  # feature-table key -> label column
        ts = _q(source.timestamp_field)
        created = (
            f"CAST({_q(source.created_timestamp_column)} AS TIMESTAMP)"
            if source.created_timestamp_column
            else "CAST(NULL AS TIMESTAMP)"
        )
        struct = ", ".join(
            [f"'__ts', CAST({ts} AS TIMESTAMP)"]
            + [f"'c{j}', {_q(to_source.get(f, f))}" for j, f in enumerate(features)]
        )
        key_cols = [_q(to_source.get(k, k)) for k in keys]
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in key_cols) or "TRUE"
        feature_rows = (
            "SELECT "
            + ", ".join(f"{k} AS __k{j}" for j, k in enumerate(key_cols))
            + f", CAST({ts} AS TIMESTAMP) AS __ts, {created} AS __created, "
            f"named_struct({struct}) AS __hit FROM parquet.{_path_literal(path)} WHERE {not_null}"
        )
        ttl: timedelta | None = fv.ttl
        alias = f"__m{i}"
        if filter_by_created_timestamp:
            on = [f"__f.__k{j} = __l.{_q(v)}" for j, v in enumerate(keys.values())]
            on += [f"__f.__ts <= {t}", f"__f.__created <= {t}"]
            if ttl:
                us = int(ttl / timedelta(microseconds=1))
                on.append(f"__f.__ts >= timestampadd(MICROSECOND, {-us}, {t})")
            ctes.append(
                f"{alias} AS (SELECT __l.{_ROW}, max_by(__f.__hit, named_struct('ts', __f.__ts, "
                f"'created', __f.__created)) AS __hit FROM {labels} __l "
                f"LEFT JOIN ({feature_rows}) __f ON {' AND '.join(on)} GROUP BY __l.{_ROW})"
            )
        else:
            label_rows = (
                "SELECT "
                + ", ".join(f"{_q(v)} AS __k{j}" for j, v in enumerate(keys.values()))
                + f", CAST({_q(event_timestamp_col)} AS TIMESTAMP) AS __ts, "
                f"CAST(NULL AS TIMESTAMP) AS __created, NULL AS __hit, 1 AS __kind, {_ROW} "
                f"FROM {labels}"
            )
            part = ", ".join(f"__k{j}" for j in range(len(keys)))
            # at equal ts a feature row (kind 0) precedes the label (kind 1), so ts <= t matches;
            # among feature rows the newest created comes last (NULL first, as in DuckDB's store)
            ctes.append(
                f"{alias} AS (SELECT {_ROW}, __hit FROM (SELECT {_ROW}, __kind, "
                f"last_value(__hit, true) OVER (PARTITION BY {part} ORDER BY __ts, __kind, "
                "__created ASC NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
                f"AS __hit FROM (SELECT *, 0 AS __kind, CAST(NULL AS BIGINT) AS {_ROW} "
                f"FROM ({feature_rows}) UNION ALL {label_rows})) WHERE __kind = 1)"
            )
        joins.append(f"LEFT JOIN {alias} ON __l.{_ROW} = {alias}.{_ROW}")
        for j, o in enumerate(out):
            col = f"{alias}.__hit.c{j}"
            if ttl and not filter_by_created_timestamp:
                us = int(ttl / timedelta(microseconds=1))
                col = (
                    f"CASE WHEN {alias}.__hit.__ts >= timestampadd(MICROSECOND, {-us}, {t}) "
                    f"THEN {col} END"
                )
            selects.append(f"{col} AS {_q(o)}")
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    return f"{with_}SELECT {', '.join(selects)} FROM {labels} __l " + " ".join(joins)


class SparkRetrievalJob(AsofRetrievalJob):
    """A lazy Spark SQL job: it runs when ``to_arrow`` / ``to_df`` is called.

    The on-demand views and ``persist`` are the DuckDB job's (they work on the Arrow result).
    """

    def __init__(
        self,
        sql: str,
        on_demand_feature_views: list[OnDemandFeatureView],
        full_feature_names: bool,
        metadata: RetrievalMetadata | None,
        cleanup: Callable[[], None] | None = None,
        order_by: str | None = None,
        description: str = "shoplab offline store",
    ) -> None:
        """Hold the SQL; ``cleanup`` runs once the job has run (staged labels are removed)."""
        super().__init__(sql, on_demand_feature_views, full_feature_names, metadata, [])
        self._cleanup = cleanup
        self._order_by = order_by
        self._description = description

    def to_sql(self) -> str:
        """Return the Spark SQL of the job (without on-demand views)."""
        return self._sql

    def to_spark_df(self) -> SparkDataFrame:
        """Return the job as a Spark DataFrame (nothing runs until an action)."""
        return spark_session().sql(self._sql)

    def _run(self, timeout: int | None) -> pa.Table:
        try:
            with spark_job(self._description) as spark:
                table = spark.sql(self._sql).toArrow()
        finally:
            if self._cleanup is not None:
                self._cleanup()
                self._cleanup = None
        if self._order_by is not None:
            # one sort of the row ids on the driver (Arrow, ~0.1 s at 1M) instead of Spark's
            # global ORDER BY (a sampling job, a range shuffle and a sort)
            table = table.take(pc.sort_indices(table[self._order_by]))
        return table


def _staging_dir(config: RepoConfig) -> Path:
    location = getattr(config.offline_store, "staging_location", None)
    if location:
        return Path(location)
    return data_root() / "spark" / "staging"


def _stage_labels(entity_df: object, config: RepoConfig) -> tuple[pa.Schema, Path]:
    """Write the label rows as one Parquet file Spark reads (timestamps in microseconds)."""
    if isinstance(entity_df, str):
        table = shared_connection().sql(entity_df).to_arrow_table()
    elif isinstance(entity_df, pd.DataFrame):
        table = pa.Table.from_pandas(entity_df, preserve_index=False)
    elif isinstance(entity_df, pa.Table):
        table = entity_df
    else:
        raise TypeError(
            f"entity_df is a {type(entity_df).__name__}, must be a pandas DataFrame, a pyarrow "
            "Table, a Spark DataFrame or a DuckDB SQL string."
        )
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            field = field.with_type(pa.timestamp("us", tz=field.type.tz or "UTC"))
        elif field.type in (pa.uint8(), pa.uint16(), pa.uint32()):  # Polars' row index: u32
            field = field.with_type(pa.int64())  # what Spark reads them as
        fields.append(field)
    table = table.cast(pa.schema(fields))
    folder = _staging_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"labels-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, path)
    return table.schema, path


def _read_staged(spark: SparkSession, schema: pa.Schema, path: Path) -> SparkDataFrame:
    """The staged labels as a Spark frame, with the schema given: no schema-inference job."""
    from pyspark.sql.pandas.types import from_arrow_schema

    try:
        declared = from_arrow_schema(schema, prefer_timestamp_ntz=False)
    except (TypeError, ValueError, NotImplementedError):  # a type Spark maps only by reading
        return spark.read.parquet(str(path))
    return spark.read.schema(declared).parquet(str(path))


class AsofSparkOfflineStore(SparkOfflineStore):
    """Feast's Spark offline store with a window-based ``get_historical_features``.

    Sources are the views' ``FileSource`` Parquet globs; see the module docstring.
    """

    supports_filter_by_created_timestamp = True

    @staticmethod
    def get_historical_features(  # type: ignore[override]
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: Any,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        """Point-in-time join by Feast's rule on Spark; see the module docstring."""
        from pyspark.sql import DataFrame as SparkFrame

        spark = spark_session(getattr(config.offline_store, "spark_conf", None))
        staged: Path | None = None
        view = f"__labels_{uuid.uuid4().hex}"

        def cleanup() -> None:
            try:
                if _jvm_alive(spark):  # a dead JVM took its temp views with it
                    spark.catalog.dropTempView(view)
            finally:
                if staged is not None:
                    staged.unlink(missing_ok=True)

        try:  # whatever fails before the job exists, the staged copy of the labels goes
            if isinstance(entity_df, SparkFrame):
                frame = entity_df
                columns = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
            else:
                schema, staged = _stage_labels(entity_df, config)
                with spark_job("read the staged label rows", spark):
                    frame = _read_staged(spark, schema, staged)
                columns = {f.name: str(f.type) for f in schema}
            ts_col = _event_timestamp_col(columns)
            label_columns = list(columns)
            row = ROW_ID if ROW_ID in columns else None
            from pyspark.sql import functions as F  # noqa: N812 (pyspark's convention)

            frame.withColumn(
                _ROW, F.col(_q(ROW_ID)) if row else F.monotonically_increasing_id()
            ).createOrReplaceTempView(view)
            sql = build_spark_sql(
                view,
                label_columns,
                feature_views,
                feature_refs,
                full_feature_names,
                ts_col,
                filter_by_created_timestamp,
            )
            odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        except BaseException:
            cleanup()
            raise
        metadata = RetrievalMetadata(
            features=feature_refs, keys=[c for c in columns if c != ts_col]
        )
        what = f"point-in-time join of {len(feature_views)} views"
        return SparkRetrievalJob(sql, odfvs, full_feature_names, metadata, cleanup, row, what)

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        """The newest row per entity key with ``start <= ts <= end`` (materialization)."""
        spark_session(getattr(config.offline_store, "spark_conf", None))
        _, path = _file_source(data_source.name, data_source)
        stamps = [timestamp_field] + (
            [created_timestamp_column] if created_timestamp_column else []
        )
        cols = ", ".join(
            _q(c) for c in dict.fromkeys(join_key_columns + feature_name_columns + stamps)
        )
        part = ", ".join(_q(k) for k in join_key_columns) or "1"
        order = ", ".join(f"{_q(c)} DESC" for c in stamps)
        sql = (
            f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY {part} "
            f"ORDER BY {order}) AS __rank FROM parquet.{_path_literal(path)} "
            f"WHERE {_between(timestamp_field, start_date, end_date)}) WHERE __rank = 1"
        )
        what = f"read {data_source.name} for materialization: newest row per key"
        return SparkRetrievalJob(sql, [], False, None, description=what)

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: DataSource,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        """Every row with ``start <= ts <= end`` (either bound optional)."""
        spark_session(getattr(config.offline_store, "spark_conf", None))
        _, path = _file_source(data_source.name, data_source)
        stamps = [timestamp_field] + (
            [created_timestamp_column] if created_timestamp_column else []
        )
        cols = ", ".join(
            _q(c) for c in dict.fromkeys(join_key_columns + feature_name_columns + stamps)
        )
        sql = (
            f"SELECT {cols} FROM parquet.{_path_literal(path)} "
            f"WHERE {_between(timestamp_field, start_date, end_date)}"
        )
        what = f"read {data_source.name} for materialization: every row"
        return SparkRetrievalJob(sql, [], False, None, description=what)


def _between(column: str, start: datetime | None, end: datetime | None) -> str:
    parts = ["TRUE"]
    if start is not None:
        parts.append(f"{_q(column)} >= TIMESTAMP '{_instant(start)}'")
    if end is not None:
        parts.append(f"{_q(column)} <= TIMESTAMP '{_instant(end)}'")
    return " AND ".join(parts)


def _instant(value: datetime) -> str:
    """An ISO instant Spark parses as UTC (a naive datetime is taken as UTC, as Feast does)."""
    from datetime import UTC

    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
