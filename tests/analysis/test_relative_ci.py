"""Relative intervals and Fieller's g: shown when the control value is well known, flagged when it
is not, withheld when it is indistinguishable from 0 (a small segment with a tiny control mean
once showed "significant" next to a relative CI of −659 % to +1553 %)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from shoplab.analysis.engine import RELATIVE_CI_APPROX_G, effect_row_fields
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
    assert float(e.fieller_g) == pytest.approx((Z * se_c / xc.mean()) ** 2, rel=1e-12)


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
        (1.0, 100, True, "relative CI approximate"),  # g ≈ 0.24
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
    g = (Z * xc.std(ddof=1) / np.sqrt(n) / mean_c) ** 2
    assert (g >= 1) == (not shown)
    assert (RELATIVE_CI_APPROX_G <= g) == bool(note)
    assert f["status"] == "ok"
    assert f["pvalue"] is not None  # the absolute test stands either way
    assert f["rel_effect"] == pytest.approx(3.0 / mean_c, rel=1e-9)
    assert ("rel_ci_lower" in f) == shown
    assert ("rel_ci_upper" in f) == shown
    assert note in f["detail"]
    if note:
        assert f"Fieller g = {g:.2f}" in f["detail"]
