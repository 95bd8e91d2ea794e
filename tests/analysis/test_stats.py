"""The statistics against independent computations on the same unit-level data.

- delta-method SEs vs a direct computation on the unit rows (per-unit linearization), rtol 1e-9;
- Welch vs scipy.stats.ttest_ind(equal_var=False); proportions vs statsmodels' Wald test/CI;
- CUPED vs statsmodels OLS of y on treatment + centered covariate;
- relative lifts on hand-checkable means, including a negative (refund-heavy) baseline.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats import proportion as sm_proportion

from shoplab.analysis.stats import SufficientStatistic, two_sample_effect


def _units(rng: np.random.Generator, n: int, *, ratio: bool, shift: float = 0.0) -> np.ndarray:
    """(n × 4) unit rows: num, den, pre_num, pre_den with realistic correlation."""
    den = rng.poisson(rng.gamma(2.0, 5.0, n)) + (0 if ratio else 1)
    pre_den = rng.poisson(rng.gamma(2.0, 5.0, n))
    p = rng.beta(2, 40, n)
    num = rng.binomial(den, np.clip(p + shift, 0, 1)).astype(float)
    pre_num = rng.binomial(pre_den, p).astype(float)
    if not ratio:
        return np.c_[num, np.ones(n), pre_num, np.ones(n)]
    return np.c_[num, den, pre_num, pre_den].astype(float)


def _direct_ratio_se(c: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Delta method written from scratch on rows: linearize each unit, take sample variances."""
    out = []
    for x in (c, t):
        n = len(x)
        mx, my = x[:, 0].mean(), x[:, 1].mean()
        lin = x[:, 0] / my - mx / my**2 * x[:, 1]  # per-unit influence of mean(num)/mean(den)
        out.append((mx / my, lin.var(ddof=1) / n))
    (r_c, v_c), (r_t, v_t) = out
    return r_t - r_c, float(np.sqrt(v_c + v_t))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delta_method_se_equals_direct_unit_level_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c, t = _units(rng, 3000, ratio=True), _units(rng, 2800, ratio=True, shift=0.004)
    e = two_sample_effect(
        SufficientStatistic.from_units(c), SufficientStatistic.from_units(t), test="z"
    )
    effect, se = _direct_ratio_se(c, t)
    assert float(e.abs_effect) == pytest.approx(effect, rel=1e-9)
    assert float(e.abs_se) == pytest.approx(se, rel=1e-9)
    z = effect / se
    assert float(e.pvalue) == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-9)


def test_relative_delta_se_equals_direct_computation() -> None:
    """Var(r_t/r_c) by the delta method, written out on rows (ratios of means in both arms)."""
    rng = np.random.default_rng(5)
    c, t = _units(rng, 4000, ratio=True), _units(rng, 4000, ratio=True, shift=0.003)
    e = two_sample_effect(
        SufficientStatistic.from_units(c), SufficientStatistic.from_units(t), test="z"
    )
    (rc, vc), (rt, vt) = [
        (
            x[:, 0].mean() / x[:, 1].mean(),
            (x[:, 0] / x[:, 1].mean() - x[:, 0].mean() / x[:, 1].mean() ** 2 * x[:, 1]).var(ddof=1)
            / len(x),
        )
        for x in (c, t)
    ]
    rel_var = vt / rc**2 + rt**2 * vc / rc**4  # gradient of r_t/r_c − 1
    assert float(e.rel_effect) == pytest.approx(rt / rc - 1, rel=1e-9)
    assert float(e.rel_se) == pytest.approx(np.sqrt(rel_var), rel=1e-9)


def test_welch_equals_scipy() -> None:
    rng = np.random.default_rng(7)
    x_c = rng.lognormal(1.0, 1.2, 500)
    x_t = rng.lognormal(1.1, 1.0, 650)
    ones = np.ones
    c = SufficientStatistic.from_units(np.c_[x_c, ones(500), ones(500), ones(500)])
    t = SufficientStatistic.from_units(np.c_[x_t, ones(650), ones(650), ones(650)])
    e = two_sample_effect(c, t, test="welch")
    ref = sps.ttest_ind(x_t, x_c, equal_var=False)
    assert float(e.pvalue) == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert float(e.ci_lower) == pytest.approx(ci.low, rel=1e-9)
    assert float(e.ci_upper) == pytest.approx(ci.high, rel=1e-9)
    assert float(e.df) == pytest.approx(ref.df, rel=1e-9)


def test_proportion_equals_statsmodels_wald() -> None:
    rng = np.random.default_rng(9)
    b_c = (rng.random(4000) < 0.031).astype(float)
    b_t = (rng.random(4100) < 0.037).astype(float)
    c = SufficientStatistic.from_units(np.c_[b_c, np.ones(4000), np.ones(4000), np.ones(4000)])
    t = SufficientStatistic.from_units(np.c_[b_t, np.ones(4100), np.ones(4100), np.ones(4100)])
    e = two_sample_effect(c, t, test="z", ddof=0)
    args = (int(b_t.sum()), 4100, int(b_c.sum()), 4000)
    ref = sm_proportion.test_proportions_2indep(*args, method="wald", compare="diff")
    low, high = sm_proportion.confint_proportions_2indep(*args, method="wald", compare="diff")
    assert float(e.pvalue) == pytest.approx(ref.pvalue, rel=1e-9)
    assert float(e.ci_lower) == pytest.approx(low, rel=1e-9)
    assert float(e.ci_upper) == pytest.approx(high, rel=1e-9)


def test_cuped_estimate_equals_ols_with_centered_covariate() -> None:
    rng = np.random.default_rng(13)
    n_c, n_t = 3000, 3200
    pre = rng.gamma(2.0, 10.0, n_c + n_t)
    treat = np.r_[np.zeros(n_c), np.ones(n_t)]
    y = 0.8 * pre + rng.normal(0, 8, n_c + n_t) + 1.5 * treat
    ones = np.ones(n_c + n_t)
    rows = np.c_[y, ones, pre, ones]
    e = two_sample_effect(
        SufficientStatistic.from_units(rows[:n_c]),
        SufficientStatistic.from_units(rows[n_c:]),
        test="welch",
        cuped=True,
    )
    X = sm.add_constant(np.c_[treat, pre - pre.mean()])
    fit = sm.OLS(y, X).fit()
    assert float(e.abs_effect) == pytest.approx(fit.params[1], rel=1e-9)
    assert float(e.theta) == pytest.approx(fit.params[2], rel=1e-9)
    # SEs: ours is heteroskedasticity-robust per arm, OLS's pooled; equal up to O(1/n) here.
    assert float(e.abs_se) == pytest.approx(fit.bse[1], rel=0.02)
    # variance reduction ≈ squared correlation of y and pre within arms (≈ 0.86 here)
    rho2 = np.corrcoef(y[:n_c], pre[:n_c])[0, 1] ** 2
    assert float(e.variance_reduction) == pytest.approx(rho2, abs=0.02)


def test_cuped_ratio_equals_linearized_regression_on_rows() -> None:
    """Ratio CUPED via linearization: θ = pooled cov(lin y, lin pre) / var(lin pre) on rows."""
    rng = np.random.default_rng(17)
    c, t = _units(rng, 5000, ratio=True), _units(rng, 5000, ratio=True, shift=0.002)
    sc, st = SufficientStatistic.from_units(c), SufficientStatistic.from_units(t)
    e = two_sample_effect(sc, st, test="z", cuped=True)

    def lin(x: np.ndarray, a: int, b: int) -> np.ndarray:
        ma, mb = x[:, a].mean(), x[:, b].mean()
        return x[:, a] / mb - ma / mb**2 * x[:, b]

    num = sum((len(x) - 1) * np.cov(lin(x, 0, 1), lin(x, 2, 3))[0, 1] for x in (c, t))
    den = sum((len(x) - 1) * lin(x, 2, 3).var(ddof=1) for x in (c, t))
    theta = num / den
    pre_c, pre_t = c[:, 2].sum() / c[:, 3].sum(), t[:, 2].sum() / t[:, 3].sum()
    raw = t[:, 0].sum() / t[:, 1].sum() - c[:, 0].sum() / c[:, 1].sum()
    assert float(e.theta) == pytest.approx(theta, rel=1e-9)
    assert float(e.abs_effect) == pytest.approx(raw - theta * (pre_t - pre_c), rel=1e-9)
    v_raw = sum(lin(x, 0, 1).var(ddof=1) / len(x) for x in (c, t))
    v_adj = sum((lin(x, 0, 1) - theta * lin(x, 2, 3)).var(ddof=1) / len(x) for x in (c, t))
    assert float(e.abs_se) == pytest.approx(np.sqrt(v_adj), rel=1e-9)
    assert float(e.variance_reduction) == pytest.approx(1 - v_adj / v_raw, rel=1e-9)
    assert float(e.variance_reduction) > 0.0


@pytest.mark.parametrize(
    ("control", "treatment", "rel"),
    [
        ([10.0, 10.0, 10.0, 10.0], [11.0, 11.0, 11.0, 11.0], 0.10),  # +10 %
        ([4.0, 6.0], [2.0, 3.0], -0.50),  # halved
        ([-10.0, -10.0], [-5.0, -5.0], 0.50),  # refund-heavy: −10 → −5 is an improvement, +50 %
        ([-10.0, -10.0], [-15.0, -15.0], -0.50),  # −10 → −15 is worse, −50 %
    ],
)
def test_relative_lift_hand_cases(control: list[float], treatment: list[float], rel: float) -> None:
    def stat(x: list[float]) -> SufficientStatistic:
        a = np.asarray(x)
        jitter = np.array([0.0, 1e-3] * (len(a) // 2))  # nonzero variance, mean unchanged
        v = a + jitter - jitter.mean()
        return SufficientStatistic.from_units(
            np.c_[v, np.ones(len(a)), np.ones(len(a)), np.ones(len(a))]
        )

    e = two_sample_effect(stat(control), stat(treatment))
    assert float(e.rel_effect) == pytest.approx(rel, rel=1e-9)
    assert np.sign(float(e.rel_effect)) == np.sign(float(e.abs_effect))


def test_batched_statistics_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(21)
    parts = [(_units(rng, 300, ratio=True), _units(rng, 300, ratio=True)) for _ in range(4)]
    singles = [
        two_sample_effect(
            SufficientStatistic.from_units(c),
            SufficientStatistic.from_units(t),
            test="z",
            cuped=True,
        )
        for c, t in parts
    ]
    sc = [SufficientStatistic.from_units(c) for c, _ in parts]
    st = [SufficientStatistic.from_units(t) for _, t in parts]

    def stack(s: list[SufficientStatistic]) -> SufficientStatistic:
        return SufficientStatistic(
            np.array([x.n for x in s]),
            np.stack([x.sums for x in s]),
            np.stack([x.sum_products for x in s]),
        )

    batched = two_sample_effect(stack(sc), stack(st), test="z", cuped=True)
    np.testing.assert_allclose(
        batched.abs_effect, [float(s.abs_effect) for s in singles], rtol=1e-12
    )
    np.testing.assert_allclose(batched.pvalue, [float(s.pvalue) for s in singles], rtol=1e-9)
