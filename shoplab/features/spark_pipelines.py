"""The feature pipelines on Spark: the same SQL, transpiled, over the same event files.

The pipelines are written once, in DuckDB's dialect (``shoplab.feature_repo.pipelines``).
:class:`SparkEngine` runs each view-day SELECT on this process's Spark session
(:func:`~shoplab.features.spark_offline_store.spark_session`: ``local[*]`` here, a cluster
master URL by ``SHOPLAB_SPARK_MASTER``):

- the event files a window needs are registered as a temporary view (one per file set, read
  once per build), and the SQL names the view instead of DuckDB's ``read_parquet``;
- the text is transpiled by sqlglot (DuckDB -> Spark SQL), plus the one function sqlglot does not
  map (``epoch_us`` -> ``unix_micros``). The pipelines avoid constructs whose meaning differs
  between the engines: date differences are ``date_diff('day', a, b)`` (a DATE minus a DATE is
  an INTERVAL on Spark), ages are computed in whole microseconds then divided as DOUBLE (a
  BIGINT over a decimal literal is a DECIMAL on Spark), money is summed as ``DECIMAL(18, 2)``
  (exact on both);
- the result is written as one Parquet file per partition (``coalesce(1)``: the offline store
  reads ``<view>/<day>.parquet`` files), under the data root's ``spark/pipelines/`` and then
  moved onto the build's temp path, so the partition appears atomically like DuckDB's.

A slow test builds every view of one world on both engines and compares every partition's
schema and values (``tests/features/test_spark_pipelines.py``). Spark is slower on one machine
(the JVM, one job per view-day); it is there for logs one machine cannot hold.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from shoplab.core.errors import StateError
from shoplab.core.paths import data_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkEngine", "to_spark_sql"]


def to_spark_sql(sql: str) -> str:
    """The Spark SQL of a pipeline SELECT written in DuckDB's dialect.

    Example:
        >>> to_spark_sql("SELECT epoch_us(ts)::DOUBLE / 1e6 AS s, x::INT FROM t")
        'SELECT CAST(UNIX_MICROS(ts) AS DOUBLE) / 1e6 AS s, CAST(x AS INT) FROM t'
    """
    import sqlglot
    from sqlglot import exp

    def spark_names(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
            return exp.Anonymous(this="UNIX_MICROS", expressions=node.expressions)
        return node

    tree = sqlglot.parse_one(sql, read="duckdb").transform(spark_names)
    return tree.sql(dialect="spark")


class SparkEngine:
    """A :class:`~shoplab.feature_repo.pipelines.engine.PipelineEngine` on Spark."""

    name = "spark"

    def __init__(self) -> None:
        """No session yet: it starts on :meth:`open` (the JVM's ~5-10 s start-up)."""
        self._spark: SparkSession | None = None
        self._views: dict[tuple[str, ...], str] = {}
        self._build = uuid.uuid4().hex[:12]

    def open(self) -> None:
        """Start (or reuse) the session."""
        from shoplab.features.spark_offline_store import spark_session

        self._spark = spark_session()

    def close(self) -> None:
        """Drop the build's temporary views (the session stays for the next user)."""
        from shoplab.features.spark_offline_store import _jvm_alive

        spark, self._spark = self._spark, None
        views, self._views = list(self._views.values()), {}
        # a JVM that died mid-build took its views with it; dropping them would raise over
        # the build's own error
        if spark is not None and spark.sparkContext._jsc is not None and _jvm_alive(spark):  # noqa: SLF001
            for view in views:
                spark.catalog.dropTempView(view)

    def _session(self) -> SparkSession:
        if self._spark is None:
            raise StateError("SparkEngine used before open() or after close(): no session.")
        return self._spark

    @property
    def reader(self) -> Callable[[str, list[str]], str]:
        """The relation of a file set: a temporary view (:meth:`view`)."""
        return self.view

    def view(self, table: str, files: list[str]) -> str:
        """Register ``files`` as a temporary view (once per file set) and return its name."""
        key = (table, *files)
        name = self._views.get(key)
        if name is None:
            # unique per build: builds of two data roots may share this process's session
            name = f"shoplab_{table}_{len(self._views)}_{self._build}"
            self._session().read.parquet(*files).createOrReplaceTempView(name)
            self._views[key] = name
        return name

    def write(self, sql: str, path: Path) -> int:
        """Run ``sql`` (DuckDB dialect) on Spark and write its rows to ``path``; their count."""
        from shoplab.features.spark_offline_store import spark_job

        spark = self._session()
        out = data_root() / "spark" / "pipelines" / uuid.uuid4().hex
        try:
            with spark_job(f"feature pipeline -> {path.parent.name}/{path.name}", spark):
                frame: Any = spark.sql(to_spark_sql(sql))
                frame.coalesce(1).write.mode("overwrite").parquet(str(out))
            parts = sorted(out.glob("part-*.parquet"))
            if len(parts) != 1:
                raise StateError(
                    f"Spark wrote {len(parts)} part files for {path.name} under {out}, "
                    "must write exactly 1 (coalesce(1))."
                )
            os.replace(parts[0], path)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return int(pq.read_metadata(path).num_rows)
