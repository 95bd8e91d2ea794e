"""Bayesian read-outs beside the frequentist row: chance to win, expected loss, credible interval.

From the same sufficient statistics as the row (GrowthBook's Gaussian engine, here on the
absolute effect).

The likelihood of the effect δ = treatment − control is the row's own normal approximation,
N(abs_effect, abs_se²) (CUPED-adjusted when the row is). The prior on δ is stated in every
scorecard:

- ``flat`` (default): an improper uniform prior, so the posterior is N(abs_effect, abs_se²).
  Then the chance to win equals 1 − the one-sided p-value, and the 95 % credible interval equals
  the z interval; a Welch t row's confidence interval is a little wider at small samples.
- ``normal`` with standard deviation τ (``prior_sd``): δ ~ N(0, τ²), which shrinks small-sample
  effects toward 0: posterior mean abs_effect · τ² / (τ² + se²), variance se² τ² / (τ² + se²).

"Winning" reads the metric's direction: for a lower-is-better metric (refund rate) the chance to
win is P(δ < 0). The expected loss is what shipping the treatment costs in the metric's units if
it is in fact worse: E[max(0, −d·δ)] with d = +1 (higher is better) or −1, which for a normal
posterior N(μ, σ²) of d·δ is σ·φ(μ/σ) − μ·Φ(−μ/σ).

Under no effect (A/A) and a flat prior, the chance to win is uniform on (0, 1) when the z
statistic is standard normal: ``tests/analysis/test_bayes.py`` checks it (Kolmogorov–Smirnov over
simulated replications) along with the closed forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps

__all__ = ["BayesReadout", "PriorKind", "bayes_readout"]

PriorKind = Literal["flat", "normal"]


@dataclass(frozen=True)
class BayesReadout:
    """Posterior summaries of one metric row's effect.

    Attributes:
        chance_to_win: P(the treatment is better than control), direction-aware.
        expected_loss: E[loss of shipping the treatment], in the metric's units (>= 0).
        cred_lower, cred_upper: the equal-tailed (1 − alpha) credible interval of the absolute
            effect.
        prior: ``flat`` or ``normal(0, τ)`` as applied.
    """

    chance_to_win: float
    expected_loss: float
    cred_lower: float
    cred_upper: float
    prior: str


def bayes_readout(
    abs_effect: float,
    abs_se: float,
    *,
    higher_is_better: bool,
    alpha: float = 0.05,
    prior: PriorKind = "flat",
    prior_sd: float | None = None,
) -> BayesReadout | None:
    """The posterior read-out of one effect; None when its standard error is not positive.

    Example:
        >>> r = bayes_readout(0.02, 0.01, higher_is_better=True)
        >>> round(r.chance_to_win, 4), round(r.cred_lower, 4), round(r.cred_upper, 4)
        (0.9772, 0.0004, 0.0396)
        >>> bayes_readout(0.02, 0.01, higher_is_better=False).chance_to_win < 0.03
        True
    """
    if not (np.isfinite(abs_effect) and np.isfinite(abs_se)) or abs_se <= 0:
        return None
    mean, var, label = float(abs_effect), float(abs_se) ** 2, "flat"
    if prior == "normal":
        if prior_sd is None or not prior_sd > 0:
            raise ValueError(f"prior_sd == {prior_sd!r}, must be > 0 for a normal prior.")
        tau2 = float(prior_sd) ** 2
        mean, var = mean * tau2 / (tau2 + var), var * tau2 / (tau2 + var)
        label = f"normal(0, {prior_sd:g})"
    sd = var**0.5
    sign = 1.0 if higher_is_better else -1.0
    mu = sign * mean  # the posterior mean of "how much better"
    chance = float(sps.norm.cdf(mu / sd))
    loss = float(sd * sps.norm.pdf(mu / sd) - mu * sps.norm.cdf(-mu / sd))
    q = float(sps.norm.ppf(1 - alpha / 2))
    return BayesReadout(chance, max(loss, 0.0), mean - q * sd, mean + q * sd, label)
