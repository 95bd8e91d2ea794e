"""Ask the policy for one day's per-user stage parameters and check what it answers.

The policy sees one row per active user (see ``shoplab.simulator.policy``) and answers with the
users it wants to change; everyone else, and every column it leaves out or null, gets ``BASELINE``.
A policy is user code, so its answer is validated like input: an unknown column, a duplicate user
or an out-of-range value fails with the column, the value and the rule. The one String column,
``rank_model``, is returned as a code per user into the day's distinct model references.
"""

from __future__ import annotations

from datetime import date
from typing import Final, NamedTuple

import numpy as np
import polars as pl

from shoplab.core.contract import COUNTRIES, PLATFORMS, TABLES, TIMESTAMP, polars_schema
from shoplab.core.errors import InputError
from shoplab.simulator.policy import BASELINE, RANK_MODEL, Arms, Policy, PolicyDecision
from shoplab.simulator.world import DAY_US, World

__all__ = ["PARAM_BOUNDS", "DayParams", "active_frame", "day_params"]

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


class DayParams(NamedTuple):
    """One day's answer of the policy, aligned with the day's active users.

    Attributes:
        params: every ``BASELINE`` parameter, one float64 value per active user.
        exposures: the exposure rows to log (``None`` without a policy).
        models: the distinct ``rank_model`` references of the day, the interleaving arms'
            ranker B models (:attr:`Arms.model_b`) and the triggered arms' models, sorted.
        model_code: per active user, the index into ``models`` of their rank model, -1 for the
            hand weights.
        arms: the day's interleaving and triggered experiments, units checked to be active.
    """

    params: dict[str, np.ndarray]
    exposures: pl.DataFrame | None
    models: tuple[str, ...]
    model_code: np.ndarray
    arms: tuple[Arms, ...] = ()


def _check_arms(arms: tuple[Arms, ...], active: np.ndarray, day: date) -> tuple[Arms, ...]:
    """Each unit of an :class:`Arms` must be an active user, once; variants in range."""
    for a in arms:
        if not isinstance(a, Arms):
            raise TypeError(f"policy arms on {day}: {type(a).__name__}, must be Arms.")
        idx = np.asarray(a.user_id, dtype=np.int64) - 1
        at = np.minimum(np.searchsorted(active, idx), max(len(active) - 1, 0))
        if len(idx) and (len(active) == 0 or not (active[at] == idx).all()):
            raise InputError(
                f"policy arms on {day}: experiment {a.experiment} has user_id(s) without a "
                "request that day, must list active users only."
            )
        if len(np.unique(idx)) != len(idx) or len(a.variant) != len(idx):
            raise InputError(
                f"policy arms on {day}: experiment {a.experiment} has {len(idx)} user_id and "
                f"{len(a.variant)} variant values, must be equal and the users unique."
            )
        bad = (np.asarray(a.variant) < -1) | (np.asarray(a.variant) >= len(a.variants))
        if bad.any() or len(a.overrides) != len(a.variants):
            raise InputError(
                f"policy arms on {day}: experiment {a.experiment} variant codes must be in "
                f"[-1, {len(a.variants)}) with one override dict per variant."
            )
        if a.models and len(a.models) != len(a.variants):
            raise InputError(
                f"policy arms on {day}: experiment {a.experiment} has models == {a.models!r}, "
                f"must be empty or one model (or None) per variant."
            )
    return arms


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
    unknown = sorted(set(params.columns) - {"user_id", RANK_MODEL, *BASELINE})
    if unknown:
        raise InputError(
            f"policy params on {day}: unknown column(s) {unknown}, "
            f"must be among {sorted([*BASELINE, RANK_MODEL])}."
        )
    if RANK_MODEL in params.columns and params.schema[RANK_MODEL] not in (pl.String, pl.Null):
        raise InputError(
            f"policy params on {day}: {RANK_MODEL} has dtype {params.schema[RANK_MODEL]}, must be "
            "String (a model reference such as 'ctr_ranker@challenger')."
        )
    params = params.with_columns(pl.col("user_id").cast(pl.Int64))
    n_dup = params.height - params["user_id"].n_unique()
    if n_dup:
        raise InputError(f"policy params on {day}: {n_dup} duplicate user_id rows, must be unique.")
    for col in params.columns:
        if col in ("user_id", RANK_MODEL):
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
) -> DayParams:
    """Per active user (aligned with ``active``): every parameter, plus the exposures to log."""
    n = len(active)
    out = {k: np.full(n, v, dtype=np.float64) for k, v in BASELINE.items()}
    no_model = np.full(n, -1, dtype=np.int32)
    if policy is None:
        return DayParams(out, None, (), no_model)
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
            if col not in ("user_id", RANK_MODEL):
                filled = joined[col].cast(pl.Float64).fill_nan(None).fill_null(BASELINE[col])
                out[col] = filled.to_numpy().astype(np.float64, copy=False)
    for k, v in out.items():
        if not np.isfinite(v).all():
            raise InputError(f"policy params on {day}: {k} has a non-finite value, must be finite.")
    arms = _check_arms(tuple(decision.arms), active, day)
    # interleaving's ranker B and every triggered arm's model (its counterfactual ranker) may
    # have no unit served by it today: they are the day's models all the same
    models: tuple[str, ...] = tuple(
        sorted({m for a in arms for m in (a.models if a.kind == "trigger" else (a.model_b,))
                if m is not None})
    )
    code = no_model
    if params.height and RANK_MODEL in params.columns:
        refs = joined[RANK_MODEL].cast(pl.String)
        models = tuple(sorted({*refs.drop_nulls().unique().to_list(), *models}))
        if models:
            code = (
                refs.replace_strict(list(models), list(range(len(models))), default=-1,
                                    return_dtype=pl.Int32)
                .to_numpy()
                .astype(np.int32, copy=False)
            )
    return DayParams(out, _check_exposures(decision.exposures, day), models, code, arms)
