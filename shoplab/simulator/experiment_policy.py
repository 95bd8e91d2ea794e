"""The experiment layer as a simulator :class:`~shoplab.simulator.policy.Policy`.

The simulator owns this adapter (not the experiment layer): ``shoplab.experiments`` assigns units
and knows nothing of the simulator's stage parameters, so it stays importable by a serving-only
install; the simulator is the layer that knows both.

Per simulated day: assign every active user at the day's midnight (UTC), turn each assigned
variant's params that the simulator knows (``BASELINE``) into per-user columns, and log one
exposure per (experiment, variant, unit) assigned that day, at the user's first request of the day,
plus the holdout's exposures (``holdout`` / ``in_experiments``) on days inside the holdout's window
(its ``start`` / ``end``, or the span of the running experiments), so its pre-period stays clean.
Layers own different params
(recall: ``recall_personal_share``; prerank: ``recall_size``; rank: ``rank_w_*``; mix:
``mix_*_share``), so combining layers is a column union; ``click_mult`` / ``order_mult`` are
multiplicative effects and multiply across layers. A rank-layer variant's ``model`` param (a
registered model reference) becomes the ``rank_model`` column: that model ranks the user's
candidates (:mod:`shoplab.simulator.model_rank`). If two layers did set the same other param, the
later layer in serving order wins. Allowlisted (forced) units get their params but no exposure.

Two kinds of experiment also travel as :class:`~shoplab.simulator.policy.Arms`:

- ``type: interleaving`` (rank layer): every unit is served ranker A's params (the first
  variant's) and the simulator drafts B's list in (:mod:`experiments.interleaving`); exposures
  log :data:`~shoplab.experiments.models.INTERLEAVED_VARIANT`. Hand-weight rankers only: a
  ``model`` variant raises (the simulator does not score two models per request yet).
- ``trigger:`` (ab): units are served their arm; the simulator replays the other arms' stage
  params over the same candidates and logs whether the lists differ (``triggers``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from shoplab.core.contract import polars_schema
from shoplab.experiments.assignment import assign_frame, resolve_layout
from shoplab.experiments.layout import CompiledExperiment, Layout
from shoplab.experiments.models import (
    HOLDOUT_IN_EXPERIMENTS,
    HOLDOUT_VARIANT,
    INTERLEAVED_VARIANT,
    Experiment,
)
from shoplab.simulator.policy import BASELINE, RANK_MODEL, Arms, PolicyDecision

__all__ = ["ExperimentPolicy"]

_MULTIPLICATIVE = frozenset({"click_mult", "order_mult"})
_RANK_LAYER = "rank"  # the only stage that serves models (validation refuses a model elsewhere)


def _overrides(ce: CompiledExperiment) -> tuple[dict[str, float], ...]:
    """Per variant, the ``BASELINE`` params it sets.

    A variant's ``model`` is not a param here: it goes to ``Arms.models`` (an interleaving
    ranker, or a triggered arm's counterfactual ranker, is scored by its own model).
    """
    return tuple(
        {k: float(v) for k, v in params.items() if k in BASELINE and not isinstance(v, str)}
        for params in ce.params
    )


class ExperimentPolicy:
    """Serve simulated users according to the experiment configs.

    Args:
        experiments: configs to use (default: the config directory, loaded once now).
        holdout: carve out the global holdout (False: every unit is eligible for experiments).

    Example:
        >>> from datetime import date, datetime, timezone
        >>> policy = ExperimentPolicy()
        >>> active = pl.DataFrame({"user_id": [1, 2, 3],
        ...     "first_ts": [datetime(2026, 1, 10, 9, tzinfo=timezone.utc)] * 3})
        >>> decision = policy(date(2026, 1, 10), active)
        >>> sorted(set(decision.exposures["experiment"])) [:1]
        ['global_holdout']
    """

    def __init__(
        self,
        experiments: Layout | Mapping[str, Experiment] | str | os.PathLike[str] | None = None,
        *,
        holdout: bool = True,
    ) -> None:
        """Resolve the configs once: a simulated day must not re-read YAML (see the class)."""
        layout = resolve_layout(experiments)
        if not holdout and layout.holdout is not None:
            layout = Layout.build(
                layout.layer_set.model_copy(update={"holdout": None}),
                layout.experiments,
                layout.files,
            )
        self.layout = layout

    def __call__(self, day: date, active: pl.DataFrame) -> PolicyDecision:
        """Assign ``active`` users for ``day`` (see the module docstring)."""
        at = datetime.combine(day, time(0), tzinfo=UTC)
        out = assign_frame(active, "user_id", experiments=self.layout, at=at)
        n = out.height
        ts = out.get_column("first_ts") if "first_ts" in out.columns else None
        if ts is None:
            ts = pl.Series("first_ts", [at] * n, dtype=pl.Datetime("us", "UTC"))
        params: dict[str, np.ndarray] = {}
        models = np.full(n, None, dtype=object)
        touched = np.zeros(n, dtype=bool)
        exposures = []
        arms: list[Arms] = []
        interleaved: list[str] = []
        user_id = out.get_column("user_id").cast(pl.Int64).to_numpy()
        for cl in self.layout.layers:
            name = cl.layer.name
            exp_col = out.get_column(f"{name}_experiment")
            var_col = out.get_column(f"{name}_variant")
            for ce in cl.experiments:
                in_exp = (exp_col == ce.key).fill_null(False).to_numpy()
                if not in_exp.any():
                    continue
                e = ce.experiment
                il = e.type == "interleaving"
                if il or e.trigger is not None:
                    served = np.full(n, -1, dtype=np.int64)
                    if not il:
                        for vi, vkey in enumerate(ce.variant_keys):
                            served[(var_col == vkey).fill_null(False).to_numpy()] = vi
                    arms.append(
                        Arms(
                            experiment=e.key,
                            kind="interleaving" if il else "trigger",
                            seed=e.seed,
                            k=0 if il else e.trigger.k,  # type: ignore[union-attr]
                            variants=ce.variant_keys,
                            overrides=_overrides(ce),
                            user_id=user_id[in_exp],
                            variant=served[in_exp],
                            models=tuple(
                                m if isinstance(m := p.get("model"), str) else None
                                for p in ce.params
                            ),
                        )
                    )
                    if il:
                        interleaved.append(e.key)
                for vi, vkey in enumerate(ce.variant_keys):
                    # an interleaved unit is served ranker A's params, whatever its hash says
                    if il:
                        rows = in_exp if vi == 0 else np.zeros(n, dtype=bool)
                    else:
                        rows = in_exp & (var_col == vkey).fill_null(False).to_numpy()
                    if not rows.any():
                        continue
                    touched |= rows
                    for pname, value in ce.params[vi].items():
                        if pname == "model" and name == _RANK_LAYER and isinstance(value, str):
                            models[rows] = value
                            continue
                        if pname not in BASELINE or isinstance(value, str):
                            continue
                        col = params.setdefault(pname, np.full(n, np.nan))
                        if pname in _MULTIPLICATIVE:
                            col[rows] = np.where(np.isnan(col[rows]), 1.0, col[rows]) * value
                        else:
                            col[rows] = float(value)
            variant = pl.col(f"{name}_variant").cast(pl.String)
            if interleaved:
                variant = (
                    pl.when(pl.col(f"{name}_experiment").is_in(interleaved))
                    .then(pl.lit(INTERLEAVED_VARIANT))
                    .otherwise(variant)
                )
            logged = (
                out.lazy()
                .with_columns(ts.alias("__ts"))
                .filter(pl.col(f"{name}_experiment").is_not_null() & ~pl.col(f"{name}_forced"))
                .select(
                    pl.col(f"{name}_experiment").cast(pl.String).alias("experiment"),
                    variant.alias("variant"),
                    pl.col("user_id").cast(pl.Int64).alias("unit_id"),
                    pl.col("__ts").alias("ts"),
                )
            )
            exposures.append(logged)
        holdout = self.layout.holdout_experiment()
        if holdout is not None and holdout.start <= at < holdout.end:
            exposures.append(
                out.lazy()
                .with_columns(ts.alias("__ts"))
                .select(
                    pl.lit(holdout.key).alias("experiment"),
                    pl.when(pl.col("holdout"))
                    .then(pl.lit(HOLDOUT_VARIANT))
                    .otherwise(pl.lit(HOLDOUT_IN_EXPERIMENTS))
                    .alias("variant"),
                    pl.col("user_id").cast(pl.Int64).alias("unit_id"),
                    pl.col("__ts").alias("ts"),
                )
            )
        exp_frame = (
            pl.concat(exposures).collect().cast(polars_schema("exposures"))
            if exposures
            else pl.DataFrame(schema=polars_schema("exposures"))
        )
        cols = {k: pl.Series(k, v, nan_to_null=True) for k, v in params.items()}
        if any(m is not None for m in models):
            cols[RANK_MODEL] = pl.Series(RANK_MODEL, models.tolist(), dtype=pl.String)
        param_frame = pl.DataFrame(
            {"user_id": out.get_column("user_id").cast(pl.Int64), **cols}
        ).filter(pl.Series(touched))
        return PolicyDecision(params=param_frame, exposures=exp_frame, arms=tuple(arms))
