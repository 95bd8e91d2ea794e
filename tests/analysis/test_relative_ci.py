"""Relative intervals and Fieller's g: shown when the control value is well known, flagged when it
is not, withheld when it is indistinguishable from 0 (a small segment with a tiny control mean
once showed "significant" next to a relative CI of −659 % to +1553 %)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from shoplab.analysis.engine import RELATIVE_CI_WIDE_G, effect_row_fields
from shoplab.analysis.metrics import get_metric
from shoplab.analysis.sequential import DEFAULT_TUNING_N
from shoplab.analysis.stats import SufficientStatistic, two_sample_effect

Z = sps.norm.ppf(0.975)


def _mean_rows(x: np.ndarray) -> SufficientStatistic:
    one = np.ones_like(x)
    return SufficientStatistic.from_units(np.c_[x, one, one, one])


def test_fieller_g_of_a_mean_is_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    xc, xt = rng.normal(2.0, 5.0, 400), rng.normal(2.5, 5.0, 420)
    e = two_sample_effect(_mean_rows(xc), _mean_rows(xt), test="welch")
    se_c = xc.std(ddof=1) / np.sqrt(xc.size)
    q = sps.t.ppf(0.975, float(e.df))  # g at the test's own critical value (Welch's t)
    assert float(e.fieller_g) == pytest.approx((q * se_c / xc.mean()) ** 2, rel=1e-12)


def test_fieller_g_of_a_ratio_uses_the_delta_method_variance() -> None:
    rng = np.random.default_rng(4)
    den = rng.poisson(20, 500).astype(float) + 1
    num = rng.binomial(den.astype(int), 0.05).astype(float)
    c = SufficientStatistic.from_units(np.c_[num, den, num, den])
    e = two_sample_effect(c, c, test="z")
    r = num.sum() / den.sum()
    # Var(Σy / Σx) ≈ Var(y − r x) / (n x̄²), the linearization of the ratio
    var = np.var(num - r * den, ddof=1) / (num.size * den.mean() ** 2)
    assert float(e.fieller_g) == pytest.approx(Z**2 * var / r**2, rel=1e-9)


@pytest.mark.parametrize(
    ("mean_c", "n", "shown", "note"),
    [
        (10.0, 5_000, True, ""),  # g ≈ 0.0004: plain row
        (1.0, 100, True, "relative CI wide"),  # g ≈ 0.24
        (0.05, 200, False, "relative CI not shown"),  # g ≈ 200: control ≈ 0 within noise
    ],
)
def test_rows_show_flag_or_withhold_the_relative_ci(
    mean_c: float, n: int, shown: bool, note: str
) -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 2.5, n)
    xc = mean_c + noise - noise.mean()  # exact sample mean
    xt = xc + 3.0
    m = get_metric("orders_per_user")
    f = effect_row_fields(
        m, _mean_rows(xc), _mean_rows(xt), cuped=False, alpha=0.05, tuning_n=DEFAULT_TUNING_N
    )
    q = sps.t.ppf(0.975, 2 * n - 2)  # Welch df of two equal-variance, equal-size arms
    g = (q * xc.std(ddof=1) / np.sqrt(n) / mean_c) ** 2
    assert (g >= 1) == (not shown)
    assert (RELATIVE_CI_WIDE_G <= g) == bool(note)
    assert f["status"] == "ok"
    assert f["pvalue"] is not None  # the absolute test stands either way
    assert f["rel_effect"] == pytest.approx(3.0 / mean_c, rel=1e-9)
    assert ("rel_ci_lower" in f) == shown
    assert ("rel_ci_upper" in f) == shown
    assert note in f["detail"]
    if note:
        assert f"Fieller g = {g:.2f}" in f["detail"]


def _brute_force_fieller(d: float, c: float, vd: float, vc: float, cdc: float, q: float,
                         grid: np.ndarray) -> tuple[float, float]:
    """Invert the test on a grid: rho is in the set when |D − rho·C| <= q·SE(D − rho·C)."""
    inside = (d - grid * c) ** 2 <= q**2 * (vd - 2 * grid * cdc + grid**2 * vc)
    return float(grid[inside].min()), float(grid[inside].max())


def test_fieller_interval_is_the_inverted_test() -> None:
    from shoplab.analysis.fieller import fieller_interval

    grid = np.linspace(-3, 3, 600_001)
    for d, c, vd, vc, cdc in [(0.1, 1.0, 0.0025, 0.0001, 0.0), (-0.2, 0.8, 0.01, 0.004, 0.002),
                              (0.05, 0.5, 0.002, 0.003, -0.001)]:
        lo, hi = fieller_interval(d, c, vd, vc, cdc, 1.96)
        blo, bhi = _brute_force_fieller(d, c, vd, vc, cdc, 1.96, grid)
        assert float(lo) == pytest.approx(blo, abs=2e-5)
        assert float(hi) == pytest.approx(bhi, abs=2e-5)
    # a negative control: the effect is over |C|, so the interval's sign follows D
    lo, hi = fieller_interval(0.1, -1.0, 0.0025, 0.0001, 0.0, 1.96)
    plo, phi = fieller_interval(0.1, 1.0, 0.0025, 0.0001, 0.0, 1.96)
    assert (float(lo), float(hi)) == pytest.approx((float(plo), float(phi)))
    # g >= 1: the control value is not known to be away from 0, the set is unbounded
    lo, hi = fieller_interval(0.1, 0.01, 0.0025, 0.0001, 0.0, 1.96)
    assert (float(lo), float(hi)) == (-np.inf, np.inf)


@pytest.mark.parametrize("test", ["welch", "z"])
@pytest.mark.parametrize("cuped", [False, True])
def test_relative_ci_excludes_zero_exactly_when_the_test_rejects(test: str, cuped: bool) -> None:
    """Random sufficient statistics (2,000 pairs of arms, small to large, sparse to dense, with
    pre-period covariates): the relative CI never contradicts the p-value, and for non-negative
    metrics it never goes below −100 %."""
    rng = np.random.default_rng(2026 + cuped)
    reps, n = 2_000, 60
    rate_c = rng.uniform(0.001, 0.3, (reps, 1))
    rate_t = rate_c * rng.uniform(0.5, 1.6, (reps, 1))
    size = rng.integers(5, 60, (reps, 1))

    def arm(rate: np.ndarray) -> SufficientStatistic:
        den = rng.poisson(size, (reps, n)).astype(float) + 1
        num = rng.binomial(den.astype(int), np.minimum(rate, 1.0)).astype(float)
        pre_den = rng.poisson(size, (reps, n)).astype(float) + 1
        pre_num = np.minimum(num + rng.poisson(1.0, (reps, n)), pre_den)
        v = np.stack([num, den, pre_num, pre_den], axis=-1)  # (reps, units, 4)
        return SufficientStatistic(
            np.full(reps, float(n)), v.sum(axis=1), np.einsum("rni,rnj->rij", v, v)
        )

    e = two_sample_effect(arm(rate_c), arm(rate_t), test=test, cuped=cuped, nonnegative=True)  # type: ignore[arg-type]
    p = np.asarray(e.pvalue)
    lo, hi = np.asarray(e.rel_ci_lower), np.asarray(e.rel_ci_upper)
    # g >= 1: Fieller's set is unbounded (two rays when the test rejects) and rows withhold it
    g = np.asarray(e.fieller_g)
    known = np.isfinite(g)  # g is NaN where the control value is 0 (no relative effect)
    assert np.array_equal(np.isinf(hi)[known], g[known] >= 1)  # lo is clipped at −100 %
    ok = np.isfinite(p) & (g < 1)
    assert ok.mean() > 0.95
    excludes_zero = (lo > 0) | (hi < 0)
    rejects = p < 0.05
    borderline = np.abs(p - 0.05) < 1e-9  # the two criteria meet at p = alpha exactly
    assert np.array_equal(excludes_zero[ok & ~borderline], rejects[ok & ~borderline])
    assert rejects[ok].mean() > 0.2  # the property is exercised on both sides
    assert (lo[ok] >= -1.0).all()
    assert (lo[ok] == -1.0).any()  # the clip at −100 % is exercised
    rel = np.asarray(e.rel_effect)
    # the point estimate is inside (CUPED can put it below −100 %, outside the parameter space)
    bounded = ok & np.isfinite(lo) & np.isfinite(hi) & (rel >= -1.0)
    assert ((lo[bounded] <= rel[bounded]) & (rel[bounded] <= hi[bounded])).all()
