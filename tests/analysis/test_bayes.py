"""Bayesian read-outs (analysis.bayes): closed forms, A/A uniformity, and the scorecard's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from shoplab.analysis import analyze
from shoplab.analysis.bayes import bayes_readout
from shoplab.analysis.stats import SufficientStatistic, two_sample_effect
from tests.analysis.builders import make_experiment


@pytest.mark.parametrize(("effect", "se", "higher"), [(0.02, 0.01, True), (-0.3, 0.5, True),
                                                       (0.02, 0.01, False), (0.0, 2.0, True)])
def test_flat_prior_closed_forms(effect: float, se: float, higher: bool) -> None:
    r = bayes_readout(effect, se, higher_is_better=higher, alpha=0.05)
    assert r is not None
    z = effect / se
    # chance to win = 1 - the one-sided p-value in the desired direction
    want = sps.norm.sf(-z) if higher else sps.norm.cdf(-z)
    assert r.chance_to_win == pytest.approx(want, rel=1e-12)
    # expected loss by numerical integration of max(0, -d*delta) under N(effect, se^2)
    d = 1.0 if higher else -1.0
    loss, _ = integrate.quad(lambda x: max(0.0, -d * x) * sps.norm.pdf(x, effect, se),
                             effect - 12 * se, effect + 12 * se, limit=200)
    assert r.expected_loss == pytest.approx(loss, rel=1e-6, abs=1e-12)
    q = sps.norm.ppf(0.975)
    assert (r.cred_lower, r.cred_upper) == pytest.approx((effect - q * se, effect + q * se))
    assert r.prior == "flat"


def test_normal_prior_is_the_conjugate_posterior() -> None:
    effect, se, tau = 0.05, 0.04, 0.02
    r = bayes_readout(effect, se, higher_is_better=True, prior="normal", prior_sd=tau)
    assert r is not None
    precision = 1 / se**2 + 1 / tau**2  # precision-weighted, computed the other way round
    mean, sd = (effect / se**2) / precision, precision**-0.5
    assert r.chance_to_win == pytest.approx(sps.norm.cdf(mean / sd), rel=1e-12)
    q = sps.norm.ppf(0.975)
    assert (r.cred_lower, r.cred_upper) == pytest.approx((mean - q * sd, mean + q * sd))
    assert r.prior == "normal(0, 0.02)"
    assert mean < effect  # shrunk toward 0
    with pytest.raises(ValueError, match="prior_sd"):
        bayes_readout(effect, se, higher_is_better=True, prior="normal")


def test_no_readout_without_a_positive_standard_error() -> None:
    assert bayes_readout(0.1, 0.0, higher_is_better=True) is None
    assert bayes_readout(float("nan"), 0.1, higher_is_better=True) is None


def test_aa_chance_to_win_is_uniform() -> None:
    """4,000 A/A replications of 400 + 400 lognormal units (Welch): KS against U(0, 1)."""
    rng = np.random.default_rng(3)
    reps, n = 4000, 400
    chances = np.empty(reps)
    for i in range(reps):  # a loop over replications (a test's simulation, not a hot path)
        c, t = (rng.lognormal(0.0, 0.8, n) for _ in range(2))
        stats = [SufficientStatistic.from_units(
            np.column_stack([x, np.ones(n), np.zeros(n), np.zeros(n)])) for x in (c, t)]
        e = two_sample_effect(stats[0], stats[1], cuped=False, test="z", ddof=1)
        r = bayes_readout(float(e.abs_effect), float(e.abs_se), higher_is_better=True)
        assert r is not None
        chances[i] = r.chance_to_win
    assert sps.kstest(chances, "uniform").pvalue > 0.01
    assert 0.035 <= float(np.mean(chances > 0.975)) + float(np.mean(chances < 0.025)) <= 0.065


def test_scorecard_rows_carry_the_readout(use_log: Path) -> None:
    card = analyze(make_experiment(), daily=False, cuped=False)
    assert card.bayes_prior == "flat"
    ctr = card.row("ctr")  # a ratio: z reference, so the credible interval is the CI itself
    assert ctr.status == "ok"
    assert ctr.test == "z"
    assert (ctr.cred_lower, ctr.cred_upper) == pytest.approx(
        (ctr.abs_ci_lower, ctr.abs_ci_upper), rel=1e-12)
    assert ctr.chance_to_win == pytest.approx(
        sps.norm.cdf(sps.norm.ppf(1 - ctr.pvalue / 2) * np.sign(ctr.abs_effect)), rel=1e-9)
    refund = card.row("refund_rate")  # lower is better: winning is a fall
    if refund.status == "ok":
        assert refund.chance_to_win is not None
        assert (refund.chance_to_win > 0.5) == (refund.abs_effect < 0)
    assert all(r.chance_to_win is None for r in card.rows if r.status != "ok")
