"""One small seeded world shared by the plausibility tests, and DuckDB views over it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from shoplab.core.contract import TABLES
from shoplab.simulator import SimulationReport, simulate
from tests.experiments.conftest import (  # the adapter's tests write configs as the layer's do
    demo_dir,
    write_configs,
)

__all__ = ["SimWorld", "demo_dir", "sim_world", "views", "write_configs"]

# 100k users × 21 days ≈ 2M impressions, ≈ 90k clicks, ≈ 4.5k orders from ≈ 2.5k buyers (25 in
# the top 1 %): enough for every check to have a margin, small enough to simulate in ≈ 5 s.
WORLD = {"users": 100_000, "items": 10_000, "days": 21, "seed": 7, "start": "2026-03-02"}


@dataclass(frozen=True)
class SimWorld:
    """The simulated log: where it is, what ``simulate`` reported, a DuckDB connection on it."""

    root: Path
    report: SimulationReport
    con: duckdb.DuckDBPyConnection

    def one(self, sql: str) -> tuple:  # type: ignore[type-arg]
        """First row of ``sql``."""
        row = self.con.execute(sql).fetchone()
        assert row is not None
        return row


def views(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """One view per event table that has files under ``root/events``."""
    for table in TABLES:
        folder = root / "events" / table
        if folder.is_dir() and any(folder.glob("*.parquet")):
            con.execute(
                f"CREATE OR REPLACE VIEW {table} AS "
                f"SELECT * FROM read_parquet('{folder}/*.parquet')"
            )


@pytest.fixture(scope="session")
def sim_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimWorld]:
    """The reference world, simulated once per session into its own data root."""
    root = tmp_path_factory.mktemp("sim_world")
    old = os.environ.get("SHOPLAB_DATA")
    os.environ["SHOPLAB_DATA"] = str(root)
    try:
        report = simulate(**WORLD)  # type: ignore[arg-type]
    finally:
        if old is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = old
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    views(con, root)
    yield SimWorld(root=root, report=report, con=con)
    con.close()
