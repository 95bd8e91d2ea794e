"""Interleaving in the simulator: the served list is the team-draft of both rankers' lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from shoplab.experiments import load_layout
from shoplab.experiments.interleaving import coin_flips, rounds_for, team_draft
from shoplab.simulator import ExperimentPolicy, simulate
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.policy import BASELINE
from shoplab.simulator.recall_index import build_recall_index
from shoplab.simulator.run import world_of
from shoplab.simulator.serving import Interleave, _hand_score, _rank, _recall, serve
from tests.experiments.conftest import WriteConfigs, experiment_doc

SIM: dict[str, Any] = {"users": 4_000, "items": 1_000, "days": 2, "seed": 5, "start": "2026-01-10"}


def _interleaving(write_configs: WriteConfigs, b: dict[str, float], **over: object) -> Path:
    doc = experiment_doc(
        "rank_il",
        type="interleaving",
        buckets=[0, 10000],
        variants=[
            {"key": "ranker_a", "weight": 0.5, "params": {}},
            {"key": "ranker_b", "weight": 0.5, "params": b},
        ],
        **over,
    )
    return write_configs(doc)


def _read(root: Path, table: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((root / "events" / table).glob("*.parquet"))]


def test_served_list_is_team_draft_of_the_two_rankers() -> None:
    world = world_of(3_000, 800, 1, seed=2)
    index = build_recall_index(np.random.default_rng(1), world, 0, WorldConfig().cold_start_days)
    n, size = 300, 60
    user = np.arange(n, dtype=np.int64)
    search = np.zeros(n, dtype=bool)
    query_cat = np.zeros(n, dtype=np.int16)
    slots = np.full(n, 8, dtype=np.int64)
    # no video / live quota: the list is the first 8 products of the ranked pool, in order
    params = {k: np.full(n, v) for k, v in BASELINE.items()}
    params["mix_video_share"][:] = 0.0
    params["mix_live_share"][:] = 0.0
    rows = np.arange(0, n, 2, dtype=np.int64)  # every other request is interleaved
    params_b = {k: v[rows].copy() for k, v in params.items()}
    params_b["rank_w_quality"][:] = -1.0
    params_b["rank_w_affinity"][:] = 3.0
    ids = 1_000 + rows

    def flips(rounds: int) -> np.ndarray:
        return coin_flips("rank_il", ids, rounds)

    served = serve(
        np.random.default_rng(9),
        world,
        index,
        user=user,
        search=search,
        query_cat=query_cat,
        slots=slots,
        params=params,
        recall_size=size,
        rank_noise=0.5,
        interleave=Interleave(rows, params_b, flips),
    )
    # the same draws by hand: recall, both rankers, the draft, the mix's first 8 products
    cand, noise = _recall(
        np.random.default_rng(9),
        world,
        index,
        user,
        search,
        query_cat,
        params["recall_personal_share"],
        size,
    )
    pa_, va = _rank(
        cand, _hand_score(world, user, search, query_cat, params, cand, noise, 0.5), slots, size
    )
    sub = (user[rows], search[rows], query_cat[rows])
    pb, vb = _rank(
        cand[rows],
        _hand_score(world, *sub, params_b, cand[rows], noise[rows], 0.5),
        slots[rows],
        size,
    )
    sentinel = -1 - np.arange(pa_.shape[1])[None, :]
    draft = team_draft(
        np.where(va[rows], pa_[rows], sentinel),
        np.where(vb, pb, sentinel),
        flips(rounds_for(pa_.shape[1])),
    )
    assert served.team is not None
    assert served.contested is not None
    is_product = world.item_type[np.maximum(draft.items, 0)] == 0
    n_changed = n_full = 0
    for j, r in enumerate(rows.tolist()):  # a test may loop: 150 requests
        mine = served.row == r
        got = served.item[mine][np.argsort(served.position[mine])]
        keep = is_product[j] & (draft.items[j] >= 0)
        teams = served.team[mine][np.argsort(served.position[mine])]
        products = world.item_type[got] == 0  # < 8 drafted products: mix backfills a card
        assert got[products].tolist() == draft.items[j][keep][:8].tolist()
        assert teams[products].tolist() == draft.team[j][keep][:8].tolist()
        n_full += int(products.all())
        n_changed += got.tolist() != pa_[r][va[r] & (world.item_type[pa_[r]] == 0)][:8].tolist()
    assert n_full > 100  # most lists are 8 drafted products exactly
    assert n_changed > 100  # B's lists differ from A's: the draft is not A's list by accident
    rest = ~np.isin(served.row, rows)
    assert (served.team[rest] == -1).all()
    assert (served.team[~rest] >= 0).all()


def test_teams_match_impressions_and_the_better_ranker_wins(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    cfg = _interleaving(write_configs, {"rank_w_quality": -1.0}, start="2026-01-10T00:00:00Z")
    report = simulate(**SIM, policy=ExperimentPolicy(load_layout(cfg), holdout=False))
    ev = data_root / "events"
    con = duckdb.connect()
    imp, teams, only_imp, only_team = con.execute(f"""
        WITH i AS (SELECT * FROM '{ev}/impressions/*.parquet'),
             t AS (SELECT * FROM '{ev}/teams/*.parquet')
        SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM t),
               (SELECT count(*) FROM i ANTI JOIN t USING (request_id, item_id, position, ts)),
               (SELECT count(*) FROM t ANTI JOIN i USING (request_id, item_id, position, ts))
    """).fetchone()  # type: ignore[misc]
    assert imp == teams == report.teams > 1_000  # every unit is interleaved (100 % traffic)
    assert only_imp == only_team == 0
    wins = dict(
        con.execute(f"""
        SELECT t.team, count(*) FROM '{ev}/clicks/*.parquet' c
        JOIN '{ev}/teams/*.parquet' t USING (request_id, item_id) GROUP BY 1
    """).fetchall()
    )
    # ranker B ranks by *negative* quality: A's picks must win most credited clicks
    assert wins["ranker_a"] > 2 * wins["ranker_b"]
    shares = dict(
        con.execute(
            f"SELECT team, count(*) / sum(count(*)) OVER () FROM '{ev}/teams/*.parquet' GROUP BY 1"
        ).fetchall()
    )
    assert shares["ranker_a"] == pytest.approx(0.5, abs=0.03)  # the coin flips balance slots
    variants = {
        r[0]
        for r in con.execute(f"SELECT DISTINCT variant FROM '{ev}/exposures/*.parquet'").fetchall()
    }
    assert variants == {"interleaved"}


def test_identical_rankers_serve_the_single_rankers_list(
    data_root: Path, write_configs: WriteConfigs
) -> None:
    cfg = _interleaving(write_configs, {"rank_w_quality": 1.0}, start="2026-01-10T00:00:00Z")
    simulate(**SIM, policy=ExperimentPolicy(load_layout(cfg), holdout=False))
    with_il = {t: _read(data_root, t) for t in ("impressions", "clicks", "orders", "teams")}
    contested = pq.read_table(data_root / "events" / "teams").column("contested").to_pylist()
    assert all(contested)  # the same ranker twice: every pick is both rankers' best
    simulate(**SIM)
    assert not (data_root / "events" / "teams").exists()  # unused: no new table
    assert not (data_root / "events" / "triggers").exists()
    for table in ("impressions", "clicks", "orders"):
        assert with_il[table] == _read(data_root, table), table


def test_same_seed_writes_identical_files(data_root: Path, write_configs: WriteConfigs) -> None:
    cfg = _interleaving(write_configs, {"rank_w_affinity": 2.0}, start="2026-01-10T00:00:00Z")
    layout = load_layout(cfg)
    runs = []
    for _ in range(2):
        simulate(**SIM, policy=ExperimentPolicy(layout, holdout=False))
        runs.append({t: _read(data_root, t) for t in ("impressions", "clicks", "teams")})
    assert runs[0] == runs[1]
    assert len(runs[0]["teams"]) == SIM["days"]
