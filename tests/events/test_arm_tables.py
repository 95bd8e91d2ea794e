"""The teams and triggers tables: a row must name an impression (a request) of the log."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from shoplab.core.contract import arrow_schema
from shoplab.events import load_events
from shoplab.experiments import load_layout
from shoplab.simulator import ExperimentPolicy, simulate
from tests.experiments.conftest import WriteConfigs, experiment_doc, write_configs

__all__ = ["write_configs"]  # the fixture, shared with the experiment tests

START = "2026-01-10T00:00:00Z"


def _simulate(write_configs: WriteConfigs) -> None:
    il = experiment_doc(
        "rank_il",
        type="interleaving",
        buckets=[0, 10000],
        start=START,
        variants=[
            {"key": "a", "weight": 0.5, "params": {}},
            {"key": "b", "weight": 0.5, "params": {"rank_w_quality": 2.0}},
        ],
    )
    tr = experiment_doc(
        "mix_tr",
        layer="mix",
        buckets=[0, 10000],
        start=START,
        trigger={"k": 5},
        variants=[
            {"key": "control", "weight": 0.5, "params": {}},
            {"key": "treatment", "weight": 0.5, "params": {"mix_video_share": 0.3}},
        ],
    )
    layout = load_layout(write_configs(il, tr))
    simulate(
        users=2_000,
        items=500,
        days=2,
        seed=4,
        start="2026-01-10",
        policy=ExperimentPolicy(layout, holdout=False),
    )


def _append(path: Path, table: str, rows: list[dict[str, object]]) -> None:
    """Rewrite the day's file with ``rows`` after the simulated ones."""
    extra = pa.Table.from_pylist(rows, schema=arrow_schema(table))
    pq.write_table(pa.concat_tables([pq.read_table(path).cast(arrow_schema(table)), extra]), path)


def test_simulated_arm_tables_are_accepted_and_orphans_quarantined(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    _simulate(write_configs)
    ev = data_root / "events"
    teams = pl.read_parquet(ev / "teams" / "2026-01-11.parquet")
    triggers = pl.read_parquet(ev / "triggers" / "2026-01-11.parquet")
    t0, g0 = teams.row(0, named=True), triggers.row(0, named=True)
    bad_teams = [
        {**t0, "item_id": 10**9},  # no such impression
        {**t0, "position": t0["position"] + 50},  # the impression is at another slot
        {**t0, "user_id": t0["user_id"] + 1},
    ]
    bad_triggers = [
        {**g0, "request_id": 10**9},
        {**g0, "user_id": g0["user_id"] + 1},
        {**g0, "k": 0},
    ]
    _append(ev / "teams" / "2026-01-11.parquet", "teams", bad_teams)
    _append(ev / "triggers" / "2026-01-11.parquet", "triggers", bad_triggers)
    report = load_events()
    rt, rg = report["teams"], report["triggers"]
    n_teams = pl.scan_parquet(ev / "teams" / "2026-01-1?.parquet").select(pl.len()).collect()
    assert rt.rows_in == n_teams.item() + 3
    assert rt.rows_in == rt.accepted + rt.quarantined
    assert rt.reasons == {
        "team without impression": 1,
        "position differs from impression": 1,
        "user_id differs from impression": 1,
    }
    assert rg.rows_in == rg.accepted + rg.quarantined
    assert rg.reasons == {
        "trigger without request": 1,
        "user_id differs from request": 1,
        "k < 1": 1,
    }
