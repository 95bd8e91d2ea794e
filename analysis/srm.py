"""Sample-ratio mismatch: is the observed split of units what the configured weights promise?

A mismatch means assignment or exposure logging is broken (bots filtered in one arm, a crash in
one variant's code path, exposures dropped), and every effect in the scorecard is then suspect.
The χ² goodness-of-fit test against the configured weights flags it; the threshold is p < 0.001
(the industry convention: at a daily look across hundreds of experiments, 0.05 would cry wolf).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from shoplab.core.errors import InputError

__all__ = ["SRM_THRESHOLD", "SrmTest", "srm_test"]

SRM_THRESHOLD: float = 0.001


@dataclass(frozen=True)
class SrmTest:
    """Result of the χ² test; ``mismatch`` is True when pvalue < threshold."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    pvalue: float
    mismatch: bool


def srm_test(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> SrmTest:
    """χ² test of ``counts`` (units per variant) against ``weights`` (need not sum to 1).

    Raises:
        InputError: a weight is negative or all are zero.

    Example:
        >>> srm_test({"control": 5000, "treatment": 4600}, {"control": 1, "treatment": 1}).mismatch
        True
    """
    keys = list(weights)
    w = np.array([float(weights[k]) for k in keys])
    if (w < 0).any() or w.sum() <= 0:
        raise InputError(f"weights == {dict(weights)}, must be >= 0 and not all 0.")
    obs = np.array([int(counts.get(k, 0)) for k in keys], dtype=float)
    total = obs.sum()
    exp = w / w.sum() * total
    if total == 0:
        return SrmTest(
            {k: 0 for k in keys}, dict(zip(keys, exp.tolist(), strict=True)), 0.0, 1.0, False
        )
    live = exp > 0
    extra = float(obs[~live].sum())  # units in a 0-weight variant are a mismatch by themselves
    chi2 = float(((obs[live] - exp[live]) ** 2 / exp[live]).sum())
    dof = int(live.sum()) - 1
    pvalue = float(sps.chi2.sf(chi2, dof)) if dof > 0 else 1.0
    if extra > 0:
        pvalue = 0.0
        chi2 = float("inf")
    return SrmTest(
        observed={k: int(o) for k, o in zip(keys, obs, strict=True)},
        expected=dict(zip(keys, exp.tolist(), strict=True)),
        chi2=chi2,
        pvalue=pvalue,
        mismatch=pvalue < threshold,
    )
