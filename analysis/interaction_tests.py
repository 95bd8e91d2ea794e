"""The pair tests of two concurrent experiments: independence of assignments, interaction effect.

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
dashboard to show. ``analysis.interactions`` runs these tests on the event log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy import stats as sps

from shoplab.analysis.stats import ratio_and_variance
from shoplab.core.errors import InputError

__all__ = [
    "DEPENDENCE_THRESHOLD",
    "IndependenceTest",
    "InteractionEffect",
    "InteractionResult",
    "InteractionStatus",
    "assignment_independence",
    "interaction_effect",
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
    """Difference in differences of one metric over a 2×2 of two experiments' arms.

    The 2×2 is (control, treatment) × (control, other treatment).

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
        out = asdict(self)
        out["flagged"] = self.flagged
        return out


def assignment_independence(
    variant: Sequence[str], other_variant: Sequence[str]
) -> IndependenceTest:
    """χ² test that two experiments' variants are independent over the same units.

    Args:
        variant: this experiment's variant, one entry per unit exposed to both.
        other_variant: the other experiment's variant of the same units (same order).

    Example:
        >>> t = assignment_independence(["a", "a", "b", "b"] * 50, ["x", "y", "x", "y"] * 50)
        >>> t.chi2, t.dependent
        (0.0, False)
    """
    if len(variant) != len(other_variant):
        raise InputError(
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
    """(ratio, variance of the ratio, status) of one cell: the delta method with ddof = 1."""
    if num.size < 2:
        return math.nan, math.nan, "too_few_units"
    if float(den.mean()) == 0:
        return math.nan, math.nan, "zero_denominator"
    r, var = ratio_and_variance(num, den, ddof=1)
    return r, var, "ok"


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
        num: per-unit numerator.
        den: per-unit denominator (≡ 1 for a mean metric).
        treated: unit in this experiment's treatment (else its control).
        other_treated: unit in the other experiment's treatment (else its control).
        metric: metric name, for the record.
        variant: this experiment's treatment key.
        other_variant: the other experiment's treatment key.
        control: this experiment's control key.
        other_control: the other experiment's control key.
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
        raise InputError(
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
