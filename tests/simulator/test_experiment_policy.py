"""The simulator policy: params per user from every layer, exposures incl. the holdout."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from shoplab.core.contract import polars_schema
from shoplab.experiments import assign, load_layout
from shoplab.simulator import ExperimentPolicy
from shoplab.simulator.policy import BASELINE
from tests.experiments.conftest import WriteConfigs, experiment_doc

DAY = date(2026, 1, 10)


def _active(n: int) -> pl.DataFrame:
    ts = datetime(2026, 1, 10, 8, tzinfo=UTC)
    return pl.DataFrame({
        "user_id": np.arange(n, dtype=np.int64),
        "first_ts": [ts + timedelta(seconds=i) for i in range(n)],
        "country": ["ID"] * n, "platform": ["android"] * n, "is_new_user": [False] * n,
    })


def _two_layer_dir(write_configs: WriteConfigs) -> Path:
    boost = [{"key": "control", "weight": 0.5, "params": {"click_mult": 1.0}},
             {"key": "boost", "weight": 0.5,
              "params": {"click_mult": 1.2, "rank_w_quality": 2.0, "feature_service": "v2"}}]
    mix = [{"key": "control", "weight": 0.5, "params": {"click_mult": 1.0}},
           {"key": "boost", "weight": 0.5, "params": {"click_mult": 1.5, "mix_video_share": 0.4}}]
    return write_configs(
        experiment_doc("rank_boost", layer="rank", buckets=[0, 10000], variants=boost),
        experiment_doc("mix_boost", layer="mix", buckets=[0, 10000], variants=mix),
    )


def test_params_combine_across_layers_and_exposures_cover_every_assignment(
    write_configs: WriteConfigs,
) -> None:
    root = _two_layer_dir(write_configs)
    layout = load_layout(root)
    active = _active(4_000)
    decision = ExperimentPolicy(layout)(DAY, active)
    params = decision.params
    assert set(params.columns) <= {"user_id", *BASELINE}
    by_user = {r["user_id"]: r for r in params.iter_rows(named=True)}
    at = datetime(2026, 1, 10, tzinfo=UTC)
    n_assigned = 0
    for u in range(4_000):
        a = assign(u, experiments=layout, at=at)
        if a.holdout:
            assert u not in by_user
            continue
        n_assigned += 2
        rank, mix = a["rank"].variant, a["mix"].variant
        expected = (1.2 if rank == "boost" else 1.0) * (1.5 if mix == "boost" else 1.0)
        assert abs(by_user[u]["click_mult"] - expected) < 1e-12
        assert by_user[u]["rank_w_quality"] == (2.0 if rank == "boost" else None)
        assert by_user[u]["mix_video_share"] == (0.4 if mix == "boost" else None)
    ex = decision.exposures
    assert ex.schema == polars_schema("exposures")
    assert ex.filter(pl.col("experiment") != "global_holdout").height == n_assigned
    holdout = ex.filter(pl.col("experiment") == "global_holdout")
    assert holdout.height == 4_000
    assert set(holdout["variant"]) == {"holdout", "in_experiments"}
    held = holdout.filter(pl.col("variant") == "holdout")["unit_id"].to_list()
    assert held == [u for u in range(4_000) if assign(u, experiments=layout, at=at).holdout]
    first_ts = dict(zip(active["user_id"], active["first_ts"], strict=True))
    assert all(first_ts[u] == t for u, t in ex.select("unit_id", "ts").iter_rows())


def test_no_holdout_option_and_days_outside_the_window(write_configs: WriteConfigs) -> None:
    root = _two_layer_dir(write_configs)
    policy = ExperimentPolicy(load_layout(root), holdout=False)
    decision = policy(DAY, _active(1_000))
    assert decision.params.height == 1_000  # everyone is in both layers' experiments
    assert "global_holdout" not in set(decision.exposures["experiment"])
    before = policy(date(2026, 1, 7), _active(1_000))  # experiments start 2026-01-08
    assert before.params.height == 0
    assert before.exposures.height == 0
    with_holdout = ExperimentPolicy(load_layout(root))
    assert with_holdout(date(2026, 1, 7), _active(1_000)).exposures.height == 0  # pre-period
    assert with_holdout(date(2026, 1, 21), _active(1_000)).exposures.height > 0
    assert with_holdout(date(2026, 1, 22), _active(1_000)).exposures.height == 0  # end excluded
