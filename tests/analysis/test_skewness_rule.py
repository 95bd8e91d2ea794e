"""The skewness rule: no p-value where a difference in means is too skewed for its reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from shoplab.analysis.metrics import get_metric
from shoplab.analysis.rows import effect_fields, skewness_bound
from shoplab.analysis.stats import (
    MAX_DIFFERENCE_SKEWNESS,
    SufficientStatistic,
    difference_skewness_bound,
)


def _arm(num: np.ndarray) -> SufficientStatistic:
    one = np.ones_like(num)
    return SufficientStatistic.from_units(np.c_[num, one, np.roll(num, 1), one])


def _shape(n_t: int, n_c: int) -> float:
    return abs(1 / n_t**2 - 1 / n_c**2) / (1 / n_t + 1 / n_c) ** 1.5


@pytest.mark.parametrize(("p", "n_t", "n_c"), [(0.1, 10, 90), (0.03, 400, 9_600), (0.5, 50, 70)])
def test_a_proportion_gets_its_exact_skewness(p: float, n_t: int, n_c: int) -> None:
    """For 0/1 values CV − 1/CV is the Bernoulli skewness (1 − 2p)/√(p(1 − p)) (scipy)."""
    k_t, k_c = round(p * n_t), round(p * n_c)
    c = _arm((np.arange(n_c) < k_c).astype(float))
    t = _arm((np.arange(n_t) < k_t).astype(float))
    pooled = (k_t + k_c) / (n_t + n_c)
    want = abs(float(sps.bernoulli(pooled).stats(moments="s"))) * _shape(n_t, n_c)
    assert float(difference_skewness_bound(c, t)) == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_bound_never_exceeds_the_true_skewness_of_a_zero_inflated_tail(seed: int) -> None:
    """Population skewness of D = (μ₃/n_t² − μ₃/n_c²) / (σ²/n_t + σ²/n_c)^{3/2} is at least the
    bound: GMV-like units (few buyers, lognormal baskets) pooled over both arms."""
    rng = np.random.default_rng(seed)
    n = 20_000
    buyer = rng.random(n) < rng.uniform(0.01, 0.3)
    x = np.where(buyer, rng.lognormal(3, rng.uniform(0.2, 2), n), 0.0)
    n_t = int(rng.integers(100, 5_000))
    bound = float(difference_skewness_bound(_arm(x[n_t:]), _arm(x[:n_t])))
    true = sps.skew(x) * _shape(n_t, n - n_t)  # skew(x) = μ₃ / σ³ with ddof 0, as the bound
    assert 0 < bound <= true


def test_rows_withhold_too_skewed_differences_only() -> None:
    rng = np.random.default_rng(4)
    gmv = np.where(rng.random(20_000) < 0.05, rng.lognormal(4, 1, 20_000), 0.0)
    small, large = _arm(gmv[:600]), _arm(gmv[600:])
    assert float(difference_skewness_bound(large, small)) > MAX_DIFFERENCE_SKEWNESS
    opts = {"cuped": True, "alpha": 0.05, "tuning_n": 1_000}
    f = effect_fields(get_metric("gmv_per_user"), large, small, **opts)  # type: ignore[arg-type]
    assert f["status"] == "too_few_units"
    assert "too skewed" in f["detail"]
    assert "pvalue" not in f
    assert "abs_ci_lower" not in f
    assert f.get("abs_effect") is not None  # the estimate is still shown
    half = effect_fields(get_metric("gmv_per_user"), _arm(gmv[::2]), _arm(gmv[1::2]), **opts)  # type: ignore[arg-type]
    assert half["status"] == "ok"  # balanced arms cancel the skewness
    # a ratio metric's linearized values may be negative: the bound does not hold, not applied
    assert float(skewness_bound(get_metric("ctr"), large, small)) == 0.0
