"""Ask the policy for one day's per-user stage parameters and check what it answers.

The policy sees one row per active user (see ``shoplab.simulator.policy``) and answers with the
users it wants to change; everyone else, and every column it leaves out or null, gets ``BASELINE``.
A policy is user code, so its answer is validated like input: an unknown column, a duplicate user
or an out-of-range value fails with the column, the value and the rule.
"""

from __future__ import annotations

from datetime import date
from typing import Final

import numpy as np
import polars as pl

from shoplab.core.contract import COUNTRIES, PLATFORMS, TABLES, TIMESTAMP, polars_schema
from shoplab.core.errors import InputError
from shoplab.simulator.policy import BASELINE, Policy, PolicyDecision
from shoplab.simulator.world import DAY_US, World

__all__ = ["PARAM_BOUNDS", "active_frame", "day_params"]

PARAM_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "recall_size": (1.0, 5000.0),  # > 5000 candidates per request would blow the chunk budget
    "recall_personal_share": (0.0, 1.0),
    "rank_w_affinity": (-100.0, 100.0),
    "rank_w_quality": (-100.0, 100.0),
    "rank_w_price": (-100.0, 100.0),
    "rank_w_short_term": (-100.0, 100.0),
    "mix_video_share": (0.0, 1.0),
    "mix_live_share": (0.0, 1.0),
    "click_mult": (0.0, 100.0),
    "order_mult": (0.0, 100.0),
}


def active_frame(
    world: World, day: date, day_us: int, active: np.ndarray, first_ts: np.ndarray, new_days: int
) -> pl.DataFrame:
    """The frame a policy receives: one row per user with a request on ``day``."""
    signup = world.user_signup_us[active]
    return pl.DataFrame(
        {
            "user_id": active.astype(np.int64) + 1,
            "first_ts": first_ts,
            "country": np.array(COUNTRIES)[world.user_country[active]],
            "platform": np.array(PLATFORMS)[world.user_platform[active]],
            "signup_ts": signup,
            "is_new_user": signup > day_us - new_days * DAY_US,
        },
        schema={
            "user_id": pl.Int64,
            "first_ts": pl.Int64,
            "country": pl.String,
            "platform": pl.String,
            "signup_ts": pl.Int64,
            "is_new_user": pl.Boolean,
        },
    ).with_columns(pl.col("first_ts", "signup_ts").cast(TIMESTAMP))


def _check_params(params: pl.DataFrame, day: date) -> pl.DataFrame:
    if "user_id" not in params.columns:
        raise InputError(f"policy params on {day}: column 'user_id' is missing.")
    unknown = sorted(set(params.columns) - {"user_id", *BASELINE})
    if unknown:
        raise InputError(
            f"policy params on {day}: unknown column(s) {unknown}, "
            f"must be among {sorted(BASELINE)}."
        )
    params = params.with_columns(pl.col("user_id").cast(pl.Int64))
    n_dup = params.height - params["user_id"].n_unique()
    if n_dup:
        raise InputError(f"policy params on {day}: {n_dup} duplicate user_id rows, must be unique.")
    for col in params.columns:
        if col == "user_id":
            continue
        values = params[col].cast(pl.Float64).fill_nan(None)  # NaN = "not set", like null
        lo, hi = PARAM_BOUNDS[col]
        bad = values.filter(values.is_not_null() & ~values.is_between(lo, hi))
        if bad.len():
            raise InputError(
                f"policy params on {day}: {col} == {bad[0]}, must be within [{lo}, {hi}]."
            )
    return params


def _check_exposures(exposures: pl.DataFrame, day: date) -> pl.DataFrame:
    schema = polars_schema("exposures")
    missing = [c for c in schema if c not in exposures.columns]
    if missing:
        raise InputError(
            f"policy exposures on {day}: column(s) {missing} missing, must have "
            f"{TABLES['exposures'].column_names}."
        )
    try:
        return exposures.select(pl.col(c).cast(t) for c, t in schema.items())
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"policy exposures on {day}: cannot cast to {dict(schema)}: {exc}"
        ) from exc


def day_params(
    policy: Policy | None,
    world: World,
    day: date,
    day_us: int,
    active: np.ndarray,
    first_ts: np.ndarray,
    new_days: int,
) -> tuple[dict[str, np.ndarray], pl.DataFrame | None]:
    """Per active user (aligned with ``active``): every parameter, plus the exposures to log."""
    n = len(active)
    out = {k: np.full(n, v, dtype=np.float64) for k, v in BASELINE.items()}
    if policy is None:
        return out, None
    decision = policy(day, active_frame(world, day, day_us, active, first_ts, new_days))
    if not isinstance(decision, PolicyDecision):
        raise TypeError(
            f"policy returned {type(decision).__name__} on {day}, must return a PolicyDecision."
        )
    params = _check_params(decision.params, day)
    if params.height:
        joined = pl.DataFrame({"user_id": active.astype(np.int64) + 1}).join(
            params, on="user_id", how="left", maintain_order="left"
        )
        for col in params.columns:
            if col != "user_id":
                filled = joined[col].cast(pl.Float64).fill_nan(None).fill_null(BASELINE[col])
                out[col] = filled.to_numpy().astype(np.float64, copy=False)
    for k, v in out.items():
        if not np.isfinite(v).all():
            raise InputError(f"policy params on {day}: {k} has a non-finite value, must be finite.")
    return out, _check_exposures(decision.exposures, day)
