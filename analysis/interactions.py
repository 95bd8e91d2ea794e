"""Interactions between experiments running at once in different layers, from the event log.

For every concurrent experiment of another layer (``concurrent_experiments``), the units exposed
to both are joined and the pair tests of ``analysis.interaction_tests`` run on them: χ²
independence of the two assignments, and the difference in differences of the primary metric per
pair of treatment variants, Holm-adjusted across every effect of one call.

Example:
    >>> import numpy as np
    >>> t = assignment_independence(["a", "b"] * 50, ["x", "x", "y", "y"] * 25)
    >>> t.status, t.dependent
    ('ok', False)
    >>> y = np.array([1.0, 1.2, 2.0, 2.2, 3.0, 3.2, 6.0, 6.2])
    >>> a, b = np.repeat([False, True], 4), np.tile(np.repeat([False, True], 2), 2)
    >>> round(interaction_effect(y, np.ones(8), a, b).interaction, 6)
    2.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime

import polars as pl

from shoplab.analysis.interaction_tests import (
    DEPENDENCE_THRESHOLD,
    IndependenceTest,
    InteractionEffect,
    InteractionResult,
    InteractionStatus,
    assignment_independence,
    interaction_effect,
)
from shoplab.analysis.replicate import unit_aggregates
from shoplab.analysis.scorecard import InteractionRow
from shoplab.analysis.spec import (
    ExperimentLike,
    ExperimentSpec,
    as_spec,
    parse_bound,
    resolve_experiment,
)
from shoplab.analysis.stats import holm
from shoplab.analysis.unit_query import all_files, files_sql
from shoplab.analysis.unit_table import UnitTable
from shoplab.core.duck import connect
from shoplab.core.errors import InputError
from shoplab.core.exposures import first_exposures_sql

__all__ = [
    "DEPENDENCE_THRESHOLD",
    "IndependenceTest",
    "InteractionEffect",
    "InteractionResult",
    "InteractionStatus",
    "assignment_independence",
    "concurrent_experiments",
    "interaction_effect",
    "interaction_rows",
    "interactions",
]


def concurrent_experiments(
    experiment: ExperimentLike, candidates: Mapping[str, ExperimentLike]
) -> list[ExperimentLike]:
    """Experiments of other layers whose [start, end) overlaps ``experiment``'s, sorted by key.

    Drafts and the global holdout are excluded.
    """
    out = []
    for key, other in sorted(candidates.items()):
        if key == experiment.key or other.layer in (experiment.layer, "holdout"):
            continue
        if getattr(other, "status", "running") == "draft":
            continue
        if other.start < experiment.end and experiment.start < other.end:
            out.append(other)
    return out


def _first_variants(key: str, start: datetime, end: datetime) -> pl.DataFrame:
    """unit_id → variant of its first exposure to ``key`` in [start, end).

    Switchers are excluded (``shoplab.core.exposures``, the rule of the unit table).
    """
    files = all_files("exposures")
    empty = pl.DataFrame(schema={"unit_id": pl.Int64, "other_variant": pl.String})
    if not files:
        return empty
    sql = first_exposures_sql(
        f"read_parquet({files_sql(files)})",
        "experiment = $key AND ts >= $start AND ts < $end",
        count_variants=False,
    )
    con = connect(ordered=False)
    try:
        rel = con.execute(
            f"SELECT unit_id, variant AS other_variant FROM ({sql}) WHERE n_variants = 1",
            {"key": key, "start": start, "end": end},
        ).fetchnumpy()
        out = pl.DataFrame({"unit_id": rel["unit_id"], "other_variant": rel["other_variant"]})
    finally:
        con.close()
    return out.cast({"unit_id": pl.Int64, "other_variant": pl.String}) if out.height else empty


def interactions(
    experiment: str | ExperimentLike,
    *,
    experiments: Mapping[str, ExperimentLike] | None = None,
    metric: str | None = None,
    as_of: datetime | date | str | None = None,
    alpha: float = 0.05,
    unit_table: UnitTable | None = None,
) -> list[InteractionResult]:
    """Independence and interaction tests against every concurrent experiment of another layer.

    Computed from the event log and exposures under ``$SHOPLAB_DATA``.

    Args:
        experiment: experiment object, or a key of ``experiments``.
        experiments: the candidates (``shoplab.sdk.interactions`` passes every configured
            experiment); none given: no candidates, no results.
        metric: metric of the interaction test (default: the experiment's primary metric).
        as_of: analyse data before this instant, as ``analysis.analyze``.
        alpha: level of the interaction tests (Holm-adjusted across the returned effects).
        unit_table: ``experiment``'s unit table when already built (``analyze()`` passes its
            own), so that the per-unit metric is copied rather than scanned again.

    Returns:
        One :class:`InteractionResult` per concurrent experiment (empty when there is none).

    Raises:
        analysis.UnknownExperimentError: unknown key.
        InputError: alpha outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha == {alpha}, must be in (0, 1).")
    candidates = experiments if experiments is not None else {}
    exp = as_spec(resolve_experiment(experiment, candidates))
    others = [as_spec(o) for o in concurrent_experiments(exp, candidates)]
    if not others:
        return []
    name = metric or exp.metrics.primary
    units = unit_aggregates(exp, as_of=as_of, metrics=[name], unit_table=unit_table)
    window_end = exp.end if as_of is None else min(exp.end, parse_bound(as_of, "as_of"))
    table = units.table.select(
        "unit_id",
        "variant",
        pl.col(f"{name}__num").alias("num"),
        pl.col(f"{name}__den").alias("den"),
    )
    results = [_pair(exp, other, table, name, window_end, alpha) for other in others]
    return _holm(results, alpha)


def _pair(
    exp: ExperimentSpec,
    other: ExperimentSpec,
    table: pl.DataFrame,
    name: str,
    window_end: datetime,
    alpha: float,
) -> InteractionResult:
    """The checks of one pair over the units exposed to both."""
    firsts = _first_variants(other.key, other.start, min(other.end, window_end))
    both = table.join(firsts, on="unit_id", how="inner")
    independence = assignment_independence(
        both["variant"].to_list(), both["other_variant"].to_list()
    )
    effects = []
    for vk in exp.treatments:
        for ok in other.treatments:
            sub = both.filter(
                pl.col("variant").is_in([exp.control, vk])
                & pl.col("other_variant").is_in([other.control, ok])
            )
            if sub.height == 0:
                effects.append(InteractionEffect(name, vk, ok, "no_overlap", {}))
                continue
            effects.append(
                interaction_effect(
                    sub["num"].to_numpy(),
                    sub["den"].to_numpy(),
                    (sub["variant"] == vk).to_numpy(),
                    (sub["other_variant"] == ok).to_numpy(),
                    metric=name,
                    variant=vk,
                    other_variant=ok,
                    control=exp.control,
                    other_control=other.control,
                    alpha=alpha,
                )
            )
    return InteractionResult(
        experiment=exp.key,
        layer=exp.layer,
        other=other.key,
        other_layer=other.layer,
        metric=name,
        units_both=both.height,
        independence=independence,
        effects=tuple(effects),
    )


def _holm(results: list[InteractionResult], alpha: float) -> list[InteractionResult]:
    """Holm across every effect of one call (``analysis.stats.holm``)."""
    slots = [
        (i, j)
        for i, r in enumerate(results)
        for j, e in enumerate(r.effects)
        if e.pvalue is not None
    ]
    adj = holm([results[i].effects[j].pvalue or 0.0 for i, j in slots])
    effects = [list(r.effects) for r in results]
    for (i, j), p in zip(slots, adj, strict=True):
        effects[i][j] = replace(effects[i][j], adjusted_pvalue=float(p), flagged=bool(p < alpha))
    return [replace(r, effects=tuple(e)) for r, e in zip(results, effects, strict=True)]


def interaction_rows(
    exp: ExperimentSpec,
    experiments: Mapping[str, ExperimentLike],
    as_of: datetime,
    alpha: float,
    unit_table: UnitTable,
    warnings: list[str],
) -> list[InteractionRow]:
    """:func:`interactions` as scorecard rows, with their warnings appended to ``warnings``.

    A failure becomes a warning, not a lost scorecard: the metric rows stay valid without it.
    """
    if exp.layer == "holdout":  # holdout units are in no experiment: no pairs to test
        return []
    try:
        results = interactions(
            exp, experiments=experiments, as_of=as_of, alpha=alpha, unit_table=unit_table
        )
    except Exception as exc:  # isolate: the metric rows stay valid without this section
        warnings.append(f"interaction checks not computed: {type(exc).__name__}: {exc}")
        return []
    rows = [
        InteractionRow(
            other_experiment=res.other,
            other_layer=res.other_layer,
            units_both=res.units_both,
            independence_pvalue=res.independence.pvalue,
            dependent=res.independence.dependent,
            metric=eff.metric,
            variant=eff.variant,
            other_variant=eff.other_variant,
            status=eff.status,
            interaction=eff.interaction,
            ci_lower=eff.ci_lower,
            ci_upper=eff.ci_upper,
            pvalue=eff.pvalue,
            adjusted_pvalue=eff.adjusted_pvalue,
            flagged=eff.flagged,
        )
        for res in results
        for eff in res.effects or ()
    ]
    for res in results:
        if res.independence.dependent:
            warnings.append(
                f"assignments of {exp.key} and {res.other} ({res.other_layer}) are not "
                f"independent (χ² p = {res.independence.pvalue:.2g}): check the layer salts."
            )
    flagged = sorted({r.other_experiment for r in rows if r.flagged})
    if flagged:
        warnings.append(f"interaction with {', '.join(flagged)} on {exp.metrics.primary}.")
    return rows
