"""Sufficient statistics of many 50/50 re-assignments in one matrix product per chunk.

Same statistics as ``analysis.analyze_assignments`` (which it is tested against, value for value)
with two savings that make daily looks × 1,000 replications cheap on 2 cores:

- every metric's variables (4 per metric) and their products (10 per metric) are stacked into one
  (units × 57) matrix for the four audited metrics, so each chunk of replications is a single
  BLAS product; ``analyze_assignments`` does 8 narrow products (2 arms × 4 metrics), and a
  4-column product runs at a fifth of a 57-column one's speed per column here;
- the control arm is the complement of the treatment arm: its statistics are the totals minus
  the treatment's, so only one arm is multiplied.

On 37k units × 1,000 replications × 4 metrics this takes ≈ 0.6 s instead of ≈ 6 s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from analysis import UnitAggregates
from analysis.engine import metric_test_options
from analysis.stats import Effect, SufficientStatistic, two_sample_effect

__all__ = ["replicate_effects"]

_PAIRS = [(j, k) for j in range(4) for k in range(j, 4)]


def replicate_effects(
    units: UnitAggregates,
    treatment: NDArray[np.integer] | NDArray[np.bool_],
    metrics: Sequence[str],
    *,
    cuped: bool,
    alpha: float = 0.05,
    lift: float = 0.0,
    chunk: int = 100,
) -> dict[str, Effect]:
    """Effect of treatment vs control per metric for every row of ``treatment``.

    Args:
        units: per-unit variables from ``analysis.unit_aggregates``.
        treatment: (R × N) 0/1 (every unit is in one of the two arms), columns in
            ``units.table`` row order.
        metrics: metric names of ``units``.
        cuped, alpha: as in ``analysis.analyze``.
        lift: injected relative effect: treatment numerators × (1 + lift), as in
            ``analysis.analyze_assignments`` (not for proportions).
        chunk: replications per product (memory ≈ chunk × N × 8 bytes).

    Raises:
        ValueError: a shape mismatch, a value other than 0/1, or a lift on a proportion.
    """
    a = np.asarray(treatment)
    n_units = units.table.height
    if a.ndim != 2 or a.shape[1] != n_units:
        raise ValueError(f"treatment.shape == {a.shape}, must be (R, {n_units}).")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(f"treatment values in [{a.min()}, {a.max()}], must be 0 or 1.")
    by_name = {m.name: m for m in units.metrics}
    unknown = [m for m in metrics if m not in by_name]
    if unknown:
        raise ValueError(f"metrics == {unknown}, must be among {sorted(by_name)}.")
    blocks = []
    for m in metrics:
        v = units.variables(m)
        blocks += [v, np.stack([v[:, j] * v[:, k] for j, k in _PAIRS], axis=1)]
    x = np.ascontiguousarray(np.concatenate([np.ones((n_units, 1)), *blocks], axis=1))
    total = x.sum(axis=0)
    treated = np.empty((a.shape[0], x.shape[1]))
    for lo in range(0, a.shape[0], chunk):
        treated[lo : lo + chunk] = a[lo : lo + chunk].astype(np.float64) @ x
    control = total[None, :] - treated
    out: dict[str, Effect] = {}
    for i, m in enumerate(metrics):
        base = 1 + 14 * i
        c = _unpack(control, base)
        t = _unpack(treated, base)
        if lift:
            if by_name[m].kind == "proportion":
                raise ValueError(f"lift == {lift} for proportion metric {m}, must be 0.")
            scale = np.array([1.0 + lift, 1.0, 1.0, 1.0])
            t = SufficientStatistic(
                t.n, t.sums * scale, t.sum_products * scale[:, None] * scale[None, :]
            )
        out[m] = two_sample_effect(
            c, t, cuped=cuped, alpha=alpha, **metric_test_options(by_name[m])
        )
    return out


def _unpack(stats: NDArray[np.float64], base: int) -> SufficientStatistic:
    sums = stats[:, base : base + 4]
    prods = stats[:, base + 4 : base + 14]
    sp = np.empty((stats.shape[0], 4, 4))
    for c, (j, k) in enumerate(_PAIRS):
        sp[:, j, k] = prods[:, c]
        sp[:, k, j] = prods[:, c]
    return SufficientStatistic(stats[:, 0].copy(), sums.copy(), sp)
