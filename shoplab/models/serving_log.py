"""The event-log rows a ranking response adds beside its impressions: ``teams`` and ``triggers``.

A marketplace logs its impressions from what it showed. An interleaving experiment's analysis
also needs the team that drafted every shown slot (``teams``), and a triggered analysis a row
per request saying whether another arm's list differed in the first ``k`` slots (``triggers``).
Both are in :func:`shoplab.models.rank`'s response; :func:`serving_rows` turns it into rows of the
event-log contract's schemas, so the validator and the analyses read an online log exactly as
they read the simulator's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from shoplab.core.contract import polars_schema
from shoplab.core.errors import InputError

__all__ = ["serving_rows"]


def serving_rows(
    response: pl.DataFrame,
    *,
    user_id: int,
    request_id: int,
    at: datetime,
    shown: int | None = None,
    experiments: Any = None,
) -> dict[str, pl.DataFrame]:
    """The ``teams`` and ``triggers`` rows of one served ranking response.

    Args:
        response: what :func:`~shoplab.models.rank` returned for the request.
        user_id: the requesting user, as its impressions log it.
        request_id: the request's id, as its impressions log it.
        at: the request's time (the rows' ``ts``), timezone-aware.
        shown: how many slots were shown (the impressions); default all.
        experiments: the configs the response was assigned from (for the trigger's ``k``);
            default the configs.

    Returns:
        ``{"teams": ..., "triggers": ...}`` with the contract's columns and dtypes: one teams
        row per shown slot of an interleaving experiment (positions 0-based, as impressions),
        one triggers row for a request in a triggered experiment; empty frames otherwise.

    Raises:
        InputError: ``response`` lacks a column :func:`~shoplab.models.rank` returns, or
            ``shown`` is not in ``[0, len(response)]``, ``at`` is timezone-naive.
    """
    need = ("item_id", "rank", "experiment", "variant", "team", "contested", "triggered")
    missing = [c for c in need if c not in response.columns]
    if missing:
        raise InputError(f"response lacks columns {missing}, must be a shoplab.rank response.")
    n = len(response) if shown is None else shown
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(response):
        raise InputError(f"shown == {shown!r}, must be an integer in [0, {len(response)}].")
    if at.tzinfo is None:
        raise InputError(f"at == {at!r}, must be timezone-aware (UTC).")
    ids = {"request_id": request_id, "user_id": user_id, "ts": at}
    top = response.head(n)
    teams = top.filter(pl.col("team").is_not_null()).select(
        *(pl.lit(v).alias(k) for k, v in ids.items() if k != "ts"),
        "item_id",
        position=pl.col("rank") - 1,
        ts=pl.lit(at),
        experiment="experiment",
        team="team",
        contested="contested",
    )
    first = response.head(1).filter(pl.col("triggered").is_not_null())
    triggers = first.select(
        *(pl.lit(v).alias(k) for k, v in ids.items()),
        "experiment",
        "variant",
        k=pl.lit(_trigger_k(first["experiment"][0], experiments) if len(first) else 0),
        triggered="triggered",
    )
    return {
        "teams": teams.cast(polars_schema("teams")),
        "triggers": triggers.cast(polars_schema("triggers")),
    }


def _trigger_k(experiment: str, experiments: Any) -> int:
    from shoplab.experiments.assignment import resolve_layout

    exp = resolve_layout(experiments).experiments.get(experiment)
    if exp is None or exp.trigger is None:
        raise InputError(
            f"experiment == {experiment!r} has no trigger in the configs, must be the experiment "
            "the response was ranked in (pass experiments= as given to rank)."
        )
    return exp.trigger.k
