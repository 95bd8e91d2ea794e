"""The simulator's true click probability behind a logged impression: the oracle CTR model.

A CTR model trained on the log can at best recover the probability the simulator drew each click
from. Scoring the log with that probability (AUC, per-user GAUC) is the ceiling any feature set
can reach, and comparing it with a position-only score says how much of the click signal is
relevance a ranker could learn rather than position bias. The probability is recomputed from the
log and ``world_of(...)`` (the same seed and sizes), so the event-log contract is untouched.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from shoplab.core.errors import InputError
from shoplab.simulator.config import WorldConfig
from shoplab.simulator.feedback import click_probability
from shoplab.simulator.traffic import QUERY_TERMS
from shoplab.simulator.world import N_CATEGORIES, World

__all__ = ["true_click_probability"]

_TERMS_PER_CATEGORY = len(QUERY_TERMS) // N_CATEGORIES  # term k belongs to category k // 4


def true_click_probability(
    world: World,
    impressions: pl.DataFrame,
    requests: pl.DataFrame,
    *,
    config: WorldConfig | None = None,
    click_mult: np.ndarray | None = None,
) -> np.ndarray:
    """P(click) the simulator used for each row of ``impressions`` (aligned with its rows).

    Args:
        world: ``world_of(...)`` with the arguments that wrote the log.
        impressions: logged impressions with ``request_id``, ``user_id``, ``item_id``, ``position``.
        requests: logged requests with ``request_id`` and ``query`` (the search term, null on feed).
        config: the ``WorldConfig`` of the run (default ``WorldConfig()``).
        click_mult: per-impression ``click_mult`` of the policy; ``None`` = baseline (1.0).

    Raises:
        InputError: a column is missing, or an impression's request is not in ``requests``.
    """
    for name, frame, cols in (
        ("impressions", impressions, ("request_id", "user_id", "item_id", "position")),
        ("requests", requests, ("request_id", "query")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"{name}: column(s) {missing} missing, must have {list(cols)}.")
    term_cat = pl.DataFrame(
        {
            "query": list(QUERY_TERMS),
            "query_cat": np.arange(len(QUERY_TERMS)) // _TERMS_PER_CATEGORY,
        },
        schema={"query": pl.String, "query_cat": pl.Int16},
    )
    req = requests.select("request_id", "query").join(term_cat, on="query", how="left")
    joined = impressions.select("request_id").join(
        req, on="request_id", how="left", maintain_order="left"
    )
    n_extra = joined.height - impressions.height
    if n_extra:
        raise InputError(f"requests: {n_extra} duplicate request_id rows, must be unique.")
    absent = impressions.select("request_id").join(req, on="request_id", how="anti").height
    if absent:
        raise InputError(
            f"impressions: {absent} rows with a request_id not in requests, must all be present."
        )
    unknown = joined.filter(pl.col("query").is_not_null() & pl.col("query_cat").is_null())
    if unknown.height:
        raise InputError(
            f"requests: query == {unknown['query'][0]!r}, must be one of the simulator's terms."
        )
    user = impressions["user_id"].to_numpy().astype(np.int64) - 1
    item = impressions["item_id"].to_numpy().astype(np.int64) - 1
    qcat = joined["query_cat"].fill_null(-1).to_numpy()
    query_match = world.item_cat[item].astype(np.int16) == qcat
    mult = np.ones(len(user), np.float32) if click_mult is None else click_mult.astype(np.float32)
    return click_probability(
        world,
        config if config is not None else WorldConfig(),
        user=user,
        item=item,
        position=impressions["position"].to_numpy(),
        query_match=query_match,
        click_mult=mult,
    )
