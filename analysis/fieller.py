"""Fieller's interval for a relative effect: the interval that cannot contradict its own test.

The relative effect is ``rho = D / C``: the (CUPED-adjusted) absolute effect ``D`` over the control
value ``C``. The delta method's ``rho ± z·se`` treats the ratio as normal, and can exclude 0 while
the absolute test does not reject (p = 0.060 with a relative CI of [−20.4 %, −0.16 %] was seen).
Fieller inverts the test itself: the set of ``rho`` for which ``D − rho·C`` is within ``q`` standard
errors of 0,

    (D − rho·C)² <= q² · (V_D − 2·rho·V_DC + rho²·V_C),

a quadratic ``a·rho² − 2·b·rho + c <= 0`` with ``a = C² − q²·V_C``, ``b = D·C − q²·V_DC``,
``c = D² − q²·V_D``. At ``rho = 0`` the condition is ``D² <= q²·V_D``: 0 is inside exactly when the
absolute test at the same critical value ``q`` does not reject. The set is a bounded interval when
``g = q²·V_C / C² < 1`` (the control value is itself significantly away from 0); otherwise it is
unbounded, and the interval is reported as ``(-inf, inf)``.

For a metric that cannot be negative (CTR, GMV per user), the relative effect cannot be below
−100 %: the interval is intersected with ``[−1, inf)``, which keeps its coverage (the true value
is always in that range) and does not move 0 in or out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["fieller_interval"]


def fieller_interval(
    d: ArrayLike,
    c: ArrayLike,
    var_d: ArrayLike,
    var_c: ArrayLike,
    cov_dc: ArrayLike,
    q: ArrayLike,
    *,
    nonnegative: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bounds of Fieller's interval for ``d / |c|`` (vectorized over any batch shape).

    Args:
        d: the absolute effect estimate.
        c: the control value (the relative effect is over ``|c|``: a lift on a negative baseline
            keeps the sign of ``d``).
        var_d: variance of ``d``.
        var_c: variance of ``c``.
        cov_dc: covariance of ``d`` and ``c``.
        q: the critical value of the absolute test (t or z quantile at 1 − alpha/2).
        nonnegative: the metric cannot be negative: clip the lower bound at −1 (−100 %).

    Returns:
        ``(lower, upper)``; ``(-inf, inf)`` where Fieller's g >= 1 (unbounded set), NaN where an
        input is NaN.

    Example:
        >>> lo, hi = fieller_interval(0.1, 1.0, 0.0025, 0.0001, 0.0, 1.96)
        >>> round(float(lo), 4), round(float(hi), 4)
        (0.002, 0.1981)
    """
    d_, c_ = np.asarray(d, dtype=float), np.asarray(c, dtype=float)
    vd, vc, cdc = (np.asarray(x, dtype=float) for x in (var_d, var_c, cov_dc))
    q2 = np.asarray(q, dtype=float) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        a = c_**2 - q2 * vc
        b = d_ * c_ - q2 * cdc
        cc = d_**2 - q2 * vd
        root = np.sqrt(np.maximum(b**2 - a * cc, 0.0))  # >= 0 whenever the set is non-empty
        lo = (b - root) / a
        hi = (b + root) / a
        bounded = a > 0
        lo = np.where(bounded, lo, -np.inf)
        hi = np.where(bounded, hi, np.inf)
        # over |c|: a negative control flips the ratio's sign and swaps the bounds
        flip = c_ < 0
        lo, hi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
        if nonnegative:
            lo = np.maximum(lo, -1.0)
        undefined = ~np.isfinite(d_ + c_ + vd + vc + cdc + q2)
        lo = np.where(undefined, np.nan, lo)
        hi = np.where(undefined, np.nan, hi)
    return lo, hi
