"""Off-policy estimates from an exploration slot, against the A/B test and the click model."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from shoplab.core.errors import InputError
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.exploration import candidates_of, exploration_check, top_slot_probability
from shoplab.simulator.run import world_of
from tests.simulator.conftest import WORLD, SimWorld

K = 10


@pytest.fixture(scope="module")
def setup(sim_world: SimWorld):  # type: ignore[no-untyped-def]
    events = sim_world.root / "events"
    imp = pl.read_parquet(events / "impressions" / "*.parquet")
    req = pl.read_parquet(events / "requests" / "*.parquet")
    world = world_of(**WORLD)  # type: ignore[arg-type]
    cands = candidates_of(imp, req, K)
    scores = {
        "logged": np.tile(-np.arange(K, dtype=np.float64), (cands.n, 1)),  # the served top item
        "quality": world.item_quality[cands.items - 1].astype(np.float64),
        "worst_quality": -world.item_quality[cands.items - 1].astype(np.float64),
    }
    return world, cands, scores


def _se(lo: float, hi: float) -> float:
    return (hi - lo) / (2 * 1.959964)


def test_estimates_agree_with_the_ab_test_and_the_truth(setup) -> None:  # type: ignore[no-untyped-def]
    world, cands, scores = setup
    assert cands.n > 20_000
    assert cands.k == K
    check = exploration_check(world, cands, scores, seed=3)
    assert check.exploration_requests == pytest.approx(cands.n / 4, rel=0.05)
    for r in check.rankers:
        assert r.ab_n == pytest.approx(cands.n / 4, rel=0.05)
        # the A/B arm estimates the truth too
        assert abs(r.ab_ctr - r.true_ctr) < 4 * r.ab_se, r
        for est in ("ipw", "snipw", "dr"):
            e = r.ope.get(est)
            se = _se(e.ci_lower, e.ci_upper)
            assert abs(e.value - r.true_ctr) < 4 * se, (r.name, est, e, r.true_ctr)
            assert abs(e.value - r.ab_ctr) < 4 * np.hypot(se, r.ab_se), (r.name, est)
            assert e.n == check.exploration_requests
    # the rankers differ by far more than the noise, and the estimates order them as the truth
    truth = {r.name: r.true_ctr for r in check.rankers}
    est = {r.name: r.ope.get("dr").value for r in check.rankers}
    assert truth["quality"] > truth["worst_quality"] * 1.3
    assert sorted(truth, key=truth.__getitem__) == sorted(est, key=est.__getitem__)
    # uniform exploration: IPW's weight is k on the matching rows, so ess is about n / k
    ipw = check.get("quality").ope.get("ipw")
    assert ipw.max_weight == pytest.approx(K)
    assert ipw.ess == pytest.approx(check.exploration_requests / K, rel=0.15)


def test_bad_input_is_named(setup) -> None:  # type: ignore[no-untyped-def]
    world, cands, _ = setup
    with pytest.raises(InputError, match=r"scores\['x'\].shape == \(2, 2\), must be"):
        exploration_check(world, cands, {"x": np.zeros((2, 2))})
    with pytest.raises(InputError, match="must name at least one ranker"):
        exploration_check(world, cands, {})
    with pytest.raises(InputError, match="candidates == 1, must be an integer >= 2"):
        candidates_of(pl.DataFrame(), pl.DataFrame(), 1)
    with pytest.raises(InputError, match="ranker == 'nope', must be one of"):
        exploration_check(world, cands, {"a": np.zeros((cands.n, K))}, n_bootstrap=50).get("nope")


@pytest.mark.slow
def test_intervals_cover_the_truth_over_replications(setup) -> None:  # type: ignore[no-untyped-def]
    """300 re-draws of the arms, exploration and clicks on one log: 95 % intervals cover ~95 %."""
    world, cands, scores = setup
    p = top_slot_probability(world, cands, WorldConfig())
    sub = {"quality": scores["quality"]}
    hits = {"ipw": 0, "snipw": 0, "dr": 0}
    reps = 300
    for seed in range(reps):
        r = exploration_check(world, cands, sub, seed=seed, n_bootstrap=300, probability=p)
        q = r.get("quality")
        for est in hits:
            e = q.ope.get(est)
            hits[est] += e.ci_lower <= q.true_ctr <= e.ci_upper
    for est, h in hits.items():
        assert 0.91 <= h / reps <= 0.985, (est, h / reps)
