"""Off-policy evaluation checked in the simulator: an exploration slot against an A/B test.

On the Open Bandit sample (``docs/datasets/obd.md``) the estimators can only be compared with a
second policy's own logged CTR, 40-70 clicks either way. The simulator knows the click model, so
here three numbers can be put side by side for the same new ranker:

1. the off-policy estimate (IPW, SNIPW, DR: :func:`shoplab.analysis.ope.off_policy_estimates`)
   from an *exploration slot*: the top slot of a share of requests shows one of the request's
   first ``candidates`` logged items uniformly at random, with the propensity ``1 / candidates``
   logged;
2. the A/B result: the ranker's own top-slot CTR on the requests randomized to it;
3. the truth: the mean of the simulator's click probability (:mod:`shoplab.simulator.oracle`) of
   the ranker's top item over the exploration requests, what both estimate.

Requests are split at random between the exploration arm and one arm per ranker, so every arm
estimates the same population mean. A click is drawn from the click model at slot 0 with the
baseline multiplier; what the rest of the list shows is held fixed (the per-slot model of OBP,
whose assumption this check shares: the click on slot 0 does not depend on slots 1..k).

This is a replay of the simulator's click model over logged requests, not a change to serving:
the served log is untouched, and the exploration arm exists only in this check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from shoplab.analysis.ope import OpeResult, off_policy_estimates
from shoplab.core.errors import InputError
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.oracle import true_click_probability
from shoplab.simulator.world import World

__all__ = [
    "Candidates",
    "ExplorationCheck",
    "RankerCheck",
    "candidates_of",
    "exploration_check",
    "top_slot_probability",
]


@dataclass(frozen=True)
class Candidates:
    """The first ``k`` logged items of every request that showed at least ``k``.

    Attributes:
        request_id, user_id: ``(n,)`` per request.
        query: ``(n,)`` the search term (None on the feed), for the click model's query match.
        items: ``(n, k)`` item ids in logged slot order.
    """

    request_id: np.ndarray
    user_id: np.ndarray
    query: list[str | None]
    items: np.ndarray

    @property
    def n(self) -> int:
        """Requests."""
        return int(self.request_id.size)

    @property
    def k(self) -> int:
        """Candidates per request."""
        return int(self.items.shape[1])


@dataclass(frozen=True)
class RankerCheck:
    """One ranker's top-slot CTR three ways.

    Attributes:
        name: the ranker's name.
        true_ctr: mean true click probability of its top item over the exploration requests.
        ab_ctr, ab_se, ab_n: observed top-slot CTR on its own A/B arm, its binomial standard
            error, and the arm's requests.
        ope: the estimates from the exploration arm's logs (slot 0 only).
    """

    name: str
    true_ctr: float
    ab_ctr: float
    ab_se: float
    ab_n: int
    ope: OpeResult


@dataclass(frozen=True)
class ExplorationCheck:
    """The exploration arm and every ranker's comparison."""

    candidates: int
    exploration_requests: int
    exploration_ctr: float
    rankers: tuple[RankerCheck, ...]

    def get(self, name: str) -> RankerCheck:
        """The ranker called ``name``.

        Raises:
            InputError: no ranker of that name (the known ones are named).
        """
        for r in self.rankers:
            if r.name == name:
                return r
        raise InputError(f"ranker == {name!r}, must be one of {[r.name for r in self.rankers]}.")


def candidates_of(impressions: pl.DataFrame, requests: pl.DataFrame, k: int = 10) -> Candidates:
    """The first ``k`` slots of every request with at least ``k`` impressions (one pivot).

    Raises:
        InputError: ``k`` < 2, a missing column, or no request with ``k`` impressions.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise InputError(f"candidates == {k!r}, must be an integer >= 2.")
    for name, frame, cols in (
        ("impressions", impressions, ("request_id", "user_id", "item_id", "position")),
        ("requests", requests, ("request_id", "query")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"{name}: column(s) {missing} missing, must have {list(cols)}.")
    top = impressions.filter(pl.col("position") < k).sort("request_id", "position")
    full = top.group_by("request_id").agg(n=pl.len()).filter(pl.col("n") == k)
    top = top.join(full.select("request_id"), on="request_id", how="semi")
    if top.height == 0:
        raise InputError(f"impressions: no request shows {k} items, must have at least one.")
    items = top["item_id"].to_numpy().reshape(-1, k)
    heads = top.filter(pl.col("position") == 0).join(
        requests.select("request_id", "query"), on="request_id", how="left", maintain_order="left"
    )
    return Candidates(
        request_id=heads["request_id"].to_numpy(),
        user_id=heads["user_id"].to_numpy(),
        query=heads["query"].to_list(),
        items=items,
    )


def top_slot_probability(world: World, cands: Candidates, config: WorldConfig) -> np.ndarray:
    """``(n, k)`` true click probability of each candidate if shown at slot 0.

    Computed once per log: replications of :func:`exploration_check` pass it as ``probability``.
    """
    n, k = cands.items.shape
    frame = pl.DataFrame(
        {
            "request_id": np.repeat(cands.request_id, k),
            "user_id": np.repeat(cands.user_id, k),
            "item_id": cands.items.reshape(-1),
            "position": np.zeros(n * k, np.int32),
        }
    )
    requests = pl.DataFrame(
        {"request_id": cands.request_id, "query": cands.query},
        schema={"request_id": pl.Int64, "query": pl.String},
    )
    p = true_click_probability(world, frame, requests, config=config)
    return np.asarray(p, np.float64).reshape(n, k)


def exploration_check(
    world: World,
    cands: Candidates,
    scores: Mapping[str, np.ndarray],
    *,
    config: WorldConfig | None = None,
    seed: int = 0,
    n_bootstrap: int = 1_000,
    probability: np.ndarray | None = None,
) -> ExplorationCheck:
    """Estimate each ranker's top-slot CTR off-policy, by A/B, and exactly (module docstring).

    Args:
        world: ``world_of(...)`` of the log the candidates come from.
        cands: :func:`candidates_of` the log.
        scores: per ranker name, ``(n, k)`` scores of the candidates (the top score is shown).
        config: the run's ``WorldConfig`` (default ``WorldConfig()``).
        seed: of the arm split, the exploration draws, the clicks and the bootstrap.
        n_bootstrap: resamples of the off-policy intervals.
        probability: the ``(n, k)`` slot-0 click probabilities if already computed (replications
            of one log reuse them; only the draws change).

    Raises:
        InputError: no ranker, or a score matrix not shaped ``(n, k)``.
    """
    if not scores:
        raise InputError("scores == {}, must name at least one ranker.")
    n, k = cands.items.shape
    for name, s in scores.items():
        if np.shape(s) != (n, k):
            raise InputError(f"scores[{name!r}].shape == {np.shape(s)}, must be {(n, k)}.")
    p = (
        top_slot_probability(world, cands, config or WorldConfig())
        if probability is None
        else probability
    )
    rng = np.random.default_rng([seed, 17])
    rows = np.arange(n)
    arm = rng.integers(0, len(scores) + 1, size=n)  # 0: exploration, r: ranker r
    explore = np.flatnonzero(arm == 0)
    shown = np.asarray(rng.integers(0, k, size=n))  # the exploration arm's uniform pick
    click: np.ndarray = rng.random(n) < p[rows, shown]
    checks = []
    for r, (name, s) in enumerate(scores.items(), start=1):
        best: np.ndarray = np.asarray(np.argmax(np.asarray(s), axis=1))
        mine = arm == r
        # drawn for every row, used on the ranker's own arm
        ab_clicks: np.ndarray = rng.random(n) < p[rows, best]
        ab_n = int(mine.sum())
        ab_ctr = float(ab_clicks[mine].mean()) if ab_n else float("nan")
        dist = np.zeros((explore.size, k, 1))
        dist[np.arange(explore.size), best[explore], 0] = 1.0
        ope = off_policy_estimates(
            actions=shown[explore],
            slots=np.zeros(explore.size, np.int64),
            rewards=click[explore].astype(np.float64),
            propensities=np.full(explore.size, 1.0 / k),
            action_dist=dist,
            per_slot=False,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        checks.append(
            RankerCheck(
                name=name,
                true_ctr=float(p[explore, best[explore]].mean()),
                ab_ctr=ab_ctr,
                ab_se=float(np.sqrt(ab_ctr * (1 - ab_ctr) / ab_n)) if ab_n else float("nan"),
                ab_n=ab_n,
                ope=ope,
            )
        )
    return ExplorationCheck(
        candidates=k,
        exploration_requests=int(explore.size),
        exploration_ctr=float(click[explore].mean()),
        rankers=tuple(checks),
    )
