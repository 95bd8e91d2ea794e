"""Interactions between experiments running at once in different layers.

Layers are hashed with different salts, so two experiments in different layers should be
assigned independently (orthogonal) and their effects should add up. Both can fail in practice:
a shared salt or a client that hashes one layer off another's result makes assignments dependent,
and a mix change that only pays off with the new ranker is a real interaction that makes each
experiment's scorecard depend on the other's traffic split. For every pair this module reports:

- **independence**: Pearson's χ² test on the contingency table of the two experiments' variants
  over the units exposed to both (scipy ``chi2_contingency``, no continuity correction). The
  threshold is p < 0.001, like SRM: it is a health check run on every pair every day.
- **interaction effect** on the experiment's primary metric, per pair of treatment variants:
  the difference in differences of the 2×2 cell values,
  ``(r[T, T'] − r[T, C']) − (r[C, T'] − r[C, C'])``, with r the metric's ratio of per-unit sums
  in each cell and its delta-method variance ``(s_nn − 2 r s_nd + r² s_dd) / (n · d̄²)``. The
  cells are disjoint sets of units, so the variances add. For a mean metric this is exactly OLS
  ``y ~ a * b`` with HC2 standard errors (tested against statsmodels). A z-test gives the
  p-value; Holm adjusts across every pair and variant of one call.

Results are plain frozen records, independent of the Scorecard model, for the scorecard and the
dashboard to show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

if TYPE_CHECKING:  # pragma: no cover
    from shoplab.analysis.engine import ExperimentLike

__all__ = [
    "DEPENDENCE_THRESHOLD",
    "IndependenceTest",
    "InteractionEffect",
    "InteractionResult",
    "InteractionStatus",
    "assignment_independence",
    "concurrent_experiments",
    "interaction_effect",
    "interactions",
]

DEPENDENCE_THRESHOLD: Final = 0.001
"""χ² p-value below which two layers' assignments are called dependent (as SRM's 0.001)."""

InteractionStatus = Literal[
    "ok", "no_overlap", "too_few_units", "zero_denominator", "zero_variance"
]


@dataclass(frozen=True)
class IndependenceTest:
    """χ² test of independence of two experiments' variants over the units in both.

    Attributes:
        contingency: units per (variant, other variant).
        chi2, dof, pvalue: Pearson's χ² (no continuity correction); None when the table has a
            single row or column (nothing to test: ``status`` says why).
        dependent: pvalue < :data:`DEPENDENCE_THRESHOLD`.
    """

    contingency: dict[str, dict[str, int]]
    units: int
    chi2: float | None
    dof: int
    pvalue: float | None
    dependent: bool
    status: Literal["ok", "no_overlap", "single_variant"]


@dataclass(frozen=True)
class InteractionEffect:
    """Difference in differences of one metric over a 2×2 of (control, treatment) × (control,
    other treatment).

    Attributes:
        cells: ``{"control|control": (units, value), ...}`` keyed ``"<variant>|<other variant>"``.
        interaction: (r[T,T'] − r[T,C']) − (r[C,T'] − r[C,C']), absolute units of the metric.
        se, ci_lower, ci_upper, pvalue: its standard error, (1 − alpha) interval, z-test.
        adjusted_pvalue: Holm across every effect of the same :func:`interactions` call.
        flagged: adjusted_pvalue < alpha.
    """

    metric: str
    variant: str
    other_variant: str
    status: InteractionStatus
    cells: dict[str, tuple[int, float | None]]
    interaction: float | None = None
    se: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    pvalue: float | None = None
    adjusted_pvalue: float | None = None
    flagged: bool = False
    detail: str = ""


@dataclass(frozen=True)
class InteractionResult:
    """One pair of concurrent experiments in different layers."""

    experiment: str
    layer: str
    other: str
    other_layer: str
    metric: str
    units_both: int
    independence: IndependenceTest
    effects: tuple[InteractionEffect, ...] = field(default_factory=tuple)

    @property
    def flagged(self) -> bool:
        """Dependent assignments or a flagged interaction effect."""
        return self.independence.dependent or any(e.flagged for e in self.effects)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for dashboards and saved scorecards)."""
        from dataclasses import asdict

        out = asdict(self)
        out["flagged"] = self.flagged
        return out


def assignment_independence(
    variant: Sequence[str], other_variant: Sequence[str]
) -> IndependenceTest:
    """χ² test that two experiments' variants are independent over the same units.

    Args:
        variant, other_variant: one entry per unit exposed to both (same order).

    Example:
        >>> t = assignment_independence(["a", "a", "b", "b"] * 50, ["x", "y", "x", "y"] * 50)
        >>> t.chi2, t.dependent
        (0.0, False)
    """
    if len(variant) != len(other_variant):
        raise ValueError(
            f"len(variant) == {len(variant)}, must equal len(other_variant) == "
            f"{len(other_variant)}."
        )
    frame = pl.DataFrame({"a": list(map(str, variant)), "b": list(map(str, other_variant))})
    counts = frame.group_by("a", "b").len()
    rows = sorted(set(frame["a"]))
    cols = sorted(set(frame["b"]))
    table = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for a, b, n in counts.iter_rows():
        table[rows.index(a), cols.index(b)] = n
    contingency = {r: {c: int(table[i, j]) for j, c in enumerate(cols)} for i, r in enumerate(rows)}
    units = int(table.sum())
    if units == 0:
        return IndependenceTest(contingency, 0, None, 0, None, False, "no_overlap")
    if len(rows) < 2 or len(cols) < 2:
        return IndependenceTest(contingency, units, None, 0, None, False, "single_variant")
    res = sps.chi2_contingency(table, correction=False)
    p = float(res.pvalue)
    return IndependenceTest(
        contingency, units, float(res.statistic), int(res.dof), p, p < DEPENDENCE_THRESHOLD, "ok"
    )


def _cell(
    num: NDArray[np.float64], den: NDArray[np.float64]
) -> tuple[float, float, InteractionStatus]:
    """(ratio, variance of the ratio, status) of one cell, delta method with ddof = 1."""
    n = num.size
    if n < 2:
        return math.nan, math.nan, "too_few_units"
    dbar = float(den.mean())
    if dbar == 0:
        return math.nan, math.nan, "zero_denominator"
    r = num.mean() / dbar
    cov = np.cov(np.vstack([num, den]), ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * dbar * dbar)
    return float(r), float(max(var, 0.0)), "ok"


def interaction_effect(
    num: NDArray[np.float64],
    den: NDArray[np.float64],
    treated: NDArray[np.bool_],
    other_treated: NDArray[np.bool_],
    *,
    metric: str = "metric",
    variant: str = "treatment",
    other_variant: str = "treatment",
    control: str = "control",
    other_control: str = "control",
    alpha: float = 0.05,
) -> InteractionEffect:
    """Difference in differences of a ratio-of-sums metric over the 2×2 of two experiments.

    Args:
        num, den: per-unit numerator and denominator (den ≡ 1 for a mean metric).
        treated: unit in this experiment's treatment (else its control).
        other_treated: unit in the other experiment's treatment (else its control).
        alpha: 1 − confidence level of the interval.

    Example:
        >>> one = np.ones(8)
        >>> y = np.array([1.0, 1.2, 2.0, 2.2, 3.0, 3.2, 6.0, 6.2])   # CC, CT, TC, TT pairs
        >>> a = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool); b = np.array([0, 0, 1, 1] * 2, bool)
        >>> round(interaction_effect(y, one, a, b).interaction, 6)   # (6.1 − 3.1) − (2.1 − 1.1)
        2.0
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    a = np.asarray(treated, dtype=bool)
    b = np.asarray(other_treated, dtype=bool)
    if not (num.shape == den.shape == a.shape == b.shape) or num.ndim != 1:
        raise ValueError(
            f"shapes == {num.shape}, {den.shape}, {a.shape}, {b.shape}, must be equal (N,)."
        )
    names = {
        (False, False): f"{control}|{other_control}",
        (False, True): f"{control}|{other_variant}",
        (True, False): f"{variant}|{other_control}",
        (True, True): f"{variant}|{other_variant}",
    }
    cells: dict[str, tuple[int, float | None]] = {}
    est: dict[tuple[bool, bool], tuple[float, float]] = {}
    problem: InteractionStatus = "ok"
    for key, name in names.items():
        sel = (a == key[0]) & (b == key[1])
        r, v, why = _cell(num[sel], den[sel])
        cells[name] = (int(sel.sum()), None if math.isnan(r) else r)
        est[key] = (r, v)
        if problem == "ok" and why != "ok":
            problem = why
    if problem != "ok":
        return InteractionEffect(
            metric,
            variant,
            other_variant,
            problem,
            cells,
            detail=f"a cell has {problem.replace('_', ' ')}",
        )
    did = (est[True, True][0] - est[True, False][0]) - (est[False, True][0] - est[False, False][0])
    se = math.sqrt(sum(v for _, v in est.values()))
    if not se > 0:
        return InteractionEffect(
            metric,
            variant,
            other_variant,
            "zero_variance",
            cells,
            interaction=did,
            detail="every cell is constant",
        )
    z = float(sps.norm.ppf(1 - alpha / 2))
    p = float(2 * sps.norm.sf(abs(did / se)))
    return InteractionEffect(
        metric,
        variant,
        other_variant,
        "ok",
        cells,
        interaction=did,
        se=se,
        ci_lower=did - z * se,
        ci_upper=did + z * se,
        pvalue=p,
        adjusted_pvalue=p,
        flagged=p < alpha,
    )


def concurrent_experiments(
    experiment: ExperimentLike, candidates: Mapping[str, ExperimentLike]
) -> list[ExperimentLike]:
    """Experiments of other layers whose [start, end) overlaps ``experiment``'s (drafts and the
    global holdout excluded), sorted by key."""
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
    """unit_id → variant of its first exposure to ``key`` in [start, end); switchers excluded
    (the rule of ``analysis.units.build_unit_table``)."""
    from shoplab.analysis.units import connect

    from shoplab.core.paths import exposures_dir

    files = sorted(str(p) for p in exposures_dir().glob("*.parquet"))
    empty = pl.DataFrame(schema={"unit_id": pl.Int64, "other_variant": pl.String})
    if not files:
        return empty
    con = connect()
    try:
        lst = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        rel = con.execute(
            f"""
            SELECT unit_id, arg_min(variant, ts) AS other_variant
            FROM read_parquet({lst})
            WHERE experiment = ? AND ts >= ? AND ts < ?
            GROUP BY unit_id HAVING count(DISTINCT variant) = 1
            """,
            [key, start, end],
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
) -> list[InteractionResult]:
    """Independence and interaction tests of ``experiment`` against every concurrent experiment
    of another layer, from the event log and exposures under ``$SHOPLAB_DATA``.

    Args:
        experiment: key (looked up in ``experiments``) or experiment object.
        experiments: candidates (default ``experiments.load_experiments()``).
        metric: metric of the interaction test (default: the experiment's primary metric).
        as_of: analyse data before this instant, as ``analysis.analyze``.
        alpha: level of the interaction tests (Holm-adjusted across the returned effects).

    Returns:
        One :class:`InteractionResult` per concurrent experiment (empty when there is none).

    Raises:
        analysis.UnknownExperimentError: unknown key.
        ValueError: alpha outside (0, 1).
    """
    from shoplab.analysis.engine import UnknownExperimentError, _as_utc
    from shoplab.analysis.replicate import unit_aggregates

    if not 0 < alpha < 1:
        raise ValueError(f"alpha == {alpha}, must be in (0, 1).")
    if experiments is None:
        from shoplab.experiments import load_experiments

        experiments = load_experiments()
    if isinstance(experiment, str):
        if experiment not in experiments:
            raise UnknownExperimentError(
                f"experiment == {experiment!r}, must be one of: {', '.join(sorted(experiments))}."
            )
        experiment = experiments[experiment]
    exp = experiment
    others = concurrent_experiments(exp, experiments)
    if not others:
        return []
    name = metric or exp.metrics.primary
    units = unit_aggregates(exp, as_of=as_of, metrics=[name])
    window_end = _as_utc(exp.end, "end")
    if as_of is not None:
        window_end = min(window_end, _as_utc(as_of, "as_of"))
    table = units.table.select(
        "unit_id",
        "variant",
        pl.col(f"{name}__num").alias("num"),
        pl.col(f"{name}__den").alias("den"),
    )
    keys = [v.key for v in exp.variants]
    results: list[InteractionResult] = []
    for other in others:
        o_end = min(_as_utc(other.end, "end"), window_end)
        firsts = _first_variants(other.key, _as_utc(other.start, "start"), o_end)
        both = table.join(firsts, on="unit_id", how="inner")
        independence = assignment_independence(
            both["variant"].to_list(), both["other_variant"].to_list()
        )
        o_keys = [v.key for v in other.variants]
        effects = []
        for vk in keys[1:]:
            for ok in o_keys[1:]:
                sub = both.filter(
                    pl.col("variant").is_in([keys[0], vk])
                    & pl.col("other_variant").is_in([o_keys[0], ok])
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
                        control=keys[0],
                        other_control=o_keys[0],
                        alpha=alpha,
                    )
                )
        results.append(
            InteractionResult(
                experiment=exp.key,
                layer=str(exp.layer),
                other=other.key,
                other_layer=str(other.layer),
                metric=name,
                units_both=both.height,
                independence=independence,
                effects=tuple(effects),
            )
        )
    return _holm(results, alpha)


def _holm(results: list[InteractionResult], alpha: float) -> list[InteractionResult]:
    slots = [
        (i, j)
        for i, r in enumerate(results)
        for j, e in enumerate(r.effects)
        if e.pvalue is not None
    ]
    if not slots:
        return results
    adj = multipletests([results[i].effects[j].pvalue for i, j in slots], method="holm")[1]
    effects = [list(r.effects) for r in results]
    for (i, j), p in zip(slots, adj, strict=True):
        effects[i][j] = replace(effects[i][j], adjusted_pvalue=float(p), flagged=bool(p < alpha))
    return [replace(r, effects=tuple(e)) for r, e in zip(results, effects, strict=True)]
