"""The world rewards personalization: the true click probability beats position alone.

A CTR model trained on the log can at best recover the probability each click was drawn from
(``shoplab.simulator.oracle``). If that oracle barely beats a position-only model, no feature set
can show a lift and the world is position-dominated: reviewers from ranking teams would reject it.
Measured on the reference world (tests/simulator/conftest.py: 542k impressions on days 15-21,
12.9k users with a click and a non-click; position CTR fitted on days 1-14): position-only AUC
0.728 / GAUC 0.738, oracle AUC 0.801 / GAUC 0.776, i.e. +0.072 AUC, +0.038 GAUC. The earlier
click model (quality weight 0.5, price fit 0.15, rank noise 0.6) gave +0.067 AUC but only +0.023
GAUC: the shown order already held nearly all within-user relevance. The GAUC bound (0.03) sits
between the two, so this test fails if the world slides back to position-dominated.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from shoplab.simulator import world_of
from shoplab.simulator.oracle import true_click_probability
from tests.simulator.conftest import WORLD, SimWorld

_FIT_DAYS = 14  # position CTR fitted on days 1..14, everything scored on days 15..21


def _labelled(sim: SimWorld, table_filter: str) -> pl.DataFrame:
    events = sim.root / "events"
    imp = pl.read_parquet(events / "impressions" / "*.parquet")
    clicks = (
        pl.read_parquet(events / "clicks" / "*.parquet")
        .select("request_id", "item_id")
        .unique()
        .with_columns(clicked=pl.lit(1, pl.Int8))
    )
    start = date.fromisoformat(str(WORLD["start"]))
    cut = start + timedelta(days=_FIT_DAYS)
    day = pl.col("ts").dt.date()
    imp = imp.filter(day < cut if table_filter == "fit" else day >= cut)
    return imp.join(
        clicks, on=["request_id", "item_id"], how="left", maintain_order="left"
    ).with_columns(pl.col("clicked").fill_null(0))


def _gauc(user: np.ndarray, y: np.ndarray, score: np.ndarray) -> tuple[float, pl.DataFrame]:
    """Impression-weighted per-user AUC (Mann-Whitney with average ranks) and the per-user table."""
    ranked = pl.DataFrame({"u": user, "y": y, "s": score}).with_columns(
        r=pl.col("s").rank("average").over("u")
    )
    per = (
        ranked.group_by("u")
        .agg(n=pl.len(), pos=pl.col("y").sum(), rsum=pl.col("r").filter(pl.col("y") == 1).sum())
        .with_columns(neg=pl.col("n") - pl.col("pos"))
        .filter((pl.col("pos") > 0) & (pl.col("neg") > 0))
        .with_columns(
            auc=(pl.col("rsum") - pl.col("pos") * (pl.col("pos") + 1) / 2)
            / (pl.col("pos") * pl.col("neg"))
        )
    )
    weighted = float((per["auc"] * per["n"]).sum())
    return weighted / float(per["n"].sum()), per


@pytest.fixture(scope="module")
def scored(sim_world: SimWorld) -> pl.DataFrame:
    """Held-out impressions with their click, the oracle P(click) and the position-only score."""
    return _score(sim_world)


def _score(sim_world: SimWorld) -> pl.DataFrame:
    fit = _labelled(sim_world, "fit")
    test = _labelled(sim_world, "test")
    by_pos = fit.group_by("position").agg(pos_ctr=pl.col("clicked").cast(pl.Float64).mean())
    test = test.join(by_pos, on="position", how="left", maintain_order="left")
    requests = pl.read_parquet(sim_world.root / "events" / "requests" / "*.parquet")
    world = world_of(**WORLD)  # type: ignore[arg-type]
    p = true_click_probability(world, test, requests)
    return test.with_columns(oracle=pl.Series(p, dtype=pl.Float64))


def test_oracle_is_calibrated_against_the_drawn_clicks(scored: pl.DataFrame) -> None:
    # The hook returns the probability the clicks were drawn from: per decile of p, the observed
    # CTR must lie within a 4-sigma binomial band of the mean p (10 bins: false alarm ≈ 6e-4).
    deciles = scored.with_columns(
        bin=(pl.col("oracle").rank("ordinal") * 10 // (pl.len() + 1)).cast(pl.Int32)
    )
    per = deciles.group_by("bin").agg(
        n=pl.len(), ctr=pl.col("clicked").cast(pl.Float64).mean(), p=pl.col("oracle").mean()
    )
    assert per.height == 10
    se = np.sqrt(per["p"] * (1 - per["p"]) / per["n"])
    z = ((per["ctr"] - per["p"]) / se).to_numpy()
    assert np.abs(z).max() < 4.0, per.sort("bin")
    # and p spreads: the top decile's CTR is several times the bottom one's
    ctr = per.sort("bin")["ctr"].to_numpy()
    assert ctr[-1] > 5 * ctr[0]


def test_gauc_matches_sklearn_per_user(scored: pl.DataFrame) -> None:
    _, per = _gauc(
        scored["user_id"].to_numpy(), scored["clicked"].to_numpy(), scored["oracle"].to_numpy()
    )
    sample = per.sort("u").head(40)
    sub = scored.filter(pl.col("user_id").is_in(sample["u"].implode()))
    for u, auc in zip(sample["u"], sample["auc"], strict=True):  # 40 users: a reference check
        rows = sub.filter(pl.col("user_id") == u)
        expected = roc_auc_score(rows["clicked"].to_numpy(), rows["oracle"].to_numpy())
        assert auc == pytest.approx(expected, abs=1e-12)


def test_true_relevance_beats_position_by_a_clear_margin(scored: pl.DataFrame) -> None:
    y = scored["clicked"].to_numpy()
    user = scored["user_id"].to_numpy()
    oracle, position = scored["oracle"].to_numpy(), scored["pos_ctr"].to_numpy()
    auc_o, auc_p = roc_auc_score(y, oracle), roc_auc_score(y, position)
    gauc_o, per = _gauc(user, y, oracle)
    gauc_p, _ = _gauc(user, y, position)
    assert per.height > 10_000  # users with a click and a non-click: GAUC se ≈ 0.002
    assert auc_o - auc_p > 0.05, (auc_o, auc_p)
    assert gauc_o - gauc_p > 0.03, (gauc_o, gauc_p)
