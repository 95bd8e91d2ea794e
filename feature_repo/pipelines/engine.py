"""Where the pipelines' SQL runs: the engine that turns one view-day SELECT into a Parquet file.

The pipelines are written once, in DuckDB's SQL dialect (:mod:`.item_stats`, ...). An engine
writes one partition from that text: :class:`DuckEngine` (the embedded default) runs it as is;
the Spark engine (:mod:`shoplab.features.spark_pipelines`) transpiles it to Spark SQL and reads
the event files through temporary views (:attr:`PipelineEngine.reader`). Both write the same
partitions, byte for byte in values (a slow test compares every table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from shoplab.core.duck import connect, sql_str

from .relations import Reader

__all__ = ["DuckEngine", "PipelineEngine"]


class PipelineEngine(Protocol):
    """What writes view partitions from the pipelines' SQL: ``open``, ``write``..., ``close``."""

    name: str

    @property
    def reader(self) -> Reader | None:
        """How the SQL reads event files (``None``: DuckDB's ``read_parquet``)."""
        ...

    def open(self) -> None:
        """Open the engine (a connection, a session) for one build."""
        ...

    def close(self) -> None:
        """Release what :meth:`open` opened (called even when the build fails)."""
        ...

    def write(self, sql: str, path: Path) -> int:
        """Write the rows of ``sql`` (DuckDB dialect) to the Parquet file ``path``; their count."""
        ...


class DuckEngine:
    """The embedded default: one DuckDB connection, ``COPY (sql) TO path``."""

    name = "duckdb"

    @property
    def reader(self) -> Reader | None:
        """``None``: the SQL reads the files with ``read_parquet``."""
        return None

    def open(self) -> None:
        """Open the build's connection."""
        self._con = connect()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def write(self, sql: str, path: Path) -> int:
        """``COPY (sql) TO path``: COPY answers with the number of rows it wrote."""
        written = self._con.execute(
            f"COPY ({sql}) TO {sql_str(str(path))} (FORMAT parquet)"
        ).fetchall()
        return int(written[0][0])
