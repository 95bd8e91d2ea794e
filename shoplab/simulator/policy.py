"""The contract between the simulator and whatever decides how each user is served.

The simulator generates one day at a time. After it has drawn that day's requests it calls the
policy once with every user active that day (vectorized: one call per day, never per request), and
the policy answers with per-user stage parameters and the exposures to log.
:class:`~shoplab.simulator.experiment_policy.ExperimentPolicy` adapts the experiment layer's
``assign_frame`` to it; without a policy every user gets the baseline.

Parameters a policy may set (any column it omits keeps the baseline value in ``BASELINE``):

- recall: ``recall_size`` (candidates per request), ``recall_personal_share`` (share of candidates
  drawn from the user's history and preferred categories rather than popularity)
- rank: ``rank_w_affinity``, ``rank_w_quality``, ``rank_w_price`` (weights of the ranker's score),
  ``rank_w_short_term`` (weight of short-term interest: the candidate is in the category of the
  user's last click. A ranker_v2 feature (``user_short_term``): 0 means the ranker_v1 feature set)
- mix: ``mix_video_share``, ``mix_live_share`` (target shares of videos and live streams in the
  final list)
- injected effects, for calibration: ``click_mult``, ``order_mult`` (multiply the click and order
  probabilities of every impression the user sees)

One column is not a number: ``rank_model`` (String, :data:`RANK_MODEL`), a registered model
reference (``ctr_ranker/3``, ``ctr_ranker@challenger``) that ranks the user's candidates instead
of the ``rank_w_*`` weights (see :mod:`shoplab.simulator.model_rank`); null or absent: the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, Protocol

import numpy as np
import polars as pl

__all__ = ["BASELINE", "RANK_MODEL", "Arms", "Policy", "PolicyDecision"]

BASELINE: Final[dict[str, float]] = {
    "recall_size": 200.0,
    "recall_personal_share": 0.3,
    "rank_w_affinity": 1.0,
    "rank_w_quality": 1.0,
    "rank_w_price": 0.5,
    "rank_w_short_term": 0.0,
    "mix_video_share": 0.2,
    "mix_live_share": 0.1,
    "click_mult": 1.0,
    "order_mult": 1.0,
}
RANK_MODEL: Final = "rank_model"
"""The params column naming the user's rank model (String; the experiment param ``model``)."""


@dataclass(frozen=True)
class Arms:
    """One experiment whose serving needs more than its own arm's params, for one day.

    ``interleaving``: the units are served the team-draft of ranker A's (``overrides[0]``) and
    ranker B's (``overrides[1]``) lists, and every impression's team is logged (``teams``).
    ``trigger``: the units are served their own arm; the simulator also serves each other arm's
    params over the same candidates and logs per request whether a top-``k`` list differs
    (``triggers``).

    Attributes:
        experiment: the experiment key (what the log tables name).
        kind: ``interleaving`` or ``trigger``.
        seed: the coin flips' seed (the experiment's salt or key).
        k: slots compared (``trigger``; 0 for ``interleaving``).
        variants: the variant keys, in config order.
        overrides: per variant, the ``BASELINE`` params it sets (its stage's params).
        user_id: the experiment's units that day (int64, the log's 1-based ids).
        variant: per unit, the index into ``variants`` of the arm it is served (-1: interleaved).
        models: per variant, the registered model it deploys (``None``: its ``overrides``, the
            hand weights); empty: every variant is a param set. ``interleaving``: ranker A's
            model is also every unit's ``rank_model``, ranker B's is read from here;
            ``trigger``: each arm's own units get it as ``rank_model``, and the other arms'
            counterfactual lists are scored by it.
    """

    experiment: str
    kind: Literal["interleaving", "trigger"]
    seed: str
    k: int
    variants: tuple[str, ...]
    overrides: tuple[dict[str, float], ...]
    user_id: np.ndarray
    variant: np.ndarray
    models: tuple[str | None, ...] = ()

    @property
    def model_b(self) -> str | None:
        """Ranker B's model (``interleaving``), ``None`` for hand weights."""
        return self.models[1] if len(self.models) > 1 else None


@dataclass(frozen=True)
class PolicyDecision:
    """What a policy answers for one day.

    Attributes:
        params: one row per user it wants to change: ``user_id`` plus any columns of ``BASELINE``
            (Float64; nulls mean baseline) and optionally ``rank_model`` (String). Users absent
            from the frame get the baseline.
        exposures: rows of the ``exposures`` event table (experiment, variant, unit_id, ts) to log
            for that day; the simulator writes them next to its other tables.
        arms: the day's interleaving and triggered experiments (see :class:`Arms`); empty: the
            simulator writes no ``teams`` / ``triggers`` file.
    """

    params: pl.DataFrame
    exposures: pl.DataFrame
    arms: tuple[Arms, ...] = ()


class Policy(Protocol):
    """Decides per user, per simulated day, how the ranking stages serve them."""

    def __call__(self, day: date, active: pl.DataFrame) -> PolicyDecision:
        """Return the decision for ``day``.

        Args:
            day: the simulated calendar day (UTC).
            active: one row per user with at least one request that day: ``user_id``,
                ``first_ts`` (their first request's ts that day), ``country``, ``platform``,
                ``signup_ts``, ``is_new_user`` (signed up less than 7 days before ``day``).
        """
        ...
