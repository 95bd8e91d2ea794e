"""The demo configs through the real simulator: exposures agree with assign, unit by unit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from shoplab.experiments import assign, first_exposures, load_layout
from shoplab.simulator import ExperimentPolicy

START = datetime(2026, 1, 8, tzinfo=UTC)


def test_simulated_exposures_match_assignment(data_root: Path, demo_dir: Path) -> None:
    from shoplab.simulator import simulate

    layout = load_layout(demo_dir)
    report = simulate(users=3_000, items=800, days=10, seed=3, policy=ExperimentPolicy(layout))
    first = first_exposures()
    assert first.height > 0
    assert first["n_variants"].max() == 1  # nobody switched arms across days
    assert first["ts"].min() >= START  # experiments and holdout start on day 8: clean pre-period
    holdout = first.filter(pl.col("experiment") == "global_holdout")
    assert set(holdout["variant"]) == {"holdout", "in_experiments"}
    held = holdout.filter(pl.col("variant") == "holdout")
    assert 0.02 < held.height / holdout.height < 0.09  # 5 % of ~900 units (sd ~0.7 %)
    in_tests = first.filter(pl.col("experiment") != "global_holdout")["unit_id"]
    assert not set(held["unit_id"]) & set(in_tests)  # held-out units are in no experiment
    for exp, variant, unit, ts in first.filter(
        pl.col("experiment") != "global_holdout"
    ).select("experiment", "variant", "unit_id", "ts").iter_rows():
        la = next(la for la in assign(unit, experiments=layout, at=ts).layers
                  if la.experiment == exp)
        assert la.variant == variant
    assert report.exposures >= first.height
