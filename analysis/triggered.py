"""Triggered analysis: the effect on triggered units and its dilution to the whole population.

A unit is *triggered* once serving showed it a list that the other arm would have changed
(counterfactual logging). Untriggered units see the same lists in both arms, so their effect is
zero by construction and they only add noise: restricting to triggered units narrows the
interval. To report the effect on the whole population we dilute it (Deng & Hu 2015, "Diluted
treatment effect estimation for trigger analysis in online controlled experiments").

Estimator: the per-unit absolute effect on the population is Δ_all = r · Δ_trig, where
r = n_trig / n_all is the pooled trigger rate (both arms: triggering does not depend on the arm)
and Δ_trig the difference in means among triggered units. Variance by the delta method, r and
Δ_trig treated as independent (r is a count over all units, Δ_trig a contrast within the
triggered): Var(Δ_all) ≈ r²·Var(Δ_trig) + Δ_trig²·r(1 − r)/n_all. The untriggered (intent-to-
treat) estimate Δ_itt on all units estimates the same quantity with a wider interval; the ratio
of the interval widths, width(Δ_all) / width(Δ_itt), is the variance reduction shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from shoplab.core.errors import InputError

__all__ = ["TriggeredEffect", "triggered_effect"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TriggeredEffect:
    """Triggered, diluted and untriggered (ITT) absolute effects with their standard errors.

    Attributes:
        trigger_rate: share of units triggered (pooled over arms).
        triggered / triggered_se: treatment − control mean among triggered units (Welch).
        diluted / diluted_se: Deng & Hu's r · Δ_trig on the whole population.
        untriggered / untriggered_se: treatment − control mean on all units (Welch).
        width_ratio: interval width of the diluted effect over the untriggered one (< 1 = gain).
        p_value: two-sided z test of the triggered effect (the same test for the diluted one,
            as r > 0 is a known scale up to its small sampling error).
    """

    trigger_rate: float
    triggered: float
    triggered_se: float
    diluted: float
    diluted_se: float
    untriggered: float
    untriggered_se: float
    width_ratio: float
    p_value: float

    def interval(self, which: str = "diluted", alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided normal interval of ``which`` (triggered, diluted or untriggered)."""
        if which not in ("triggered", "diluted", "untriggered"):
            raise InputError(
                f"which == {which!r}, must be one of 'triggered', 'diluted', 'untriggered'."
            )
        z = float(sps.norm.ppf(1 - alpha / 2))
        est, se = getattr(self, which), getattr(self, f"{which}_se")
        return est - z * se, est + z * se


def _welch(y: FloatArray, treated: NDArray[np.bool_]) -> tuple[float, float]:
    """Difference in means (treated − control) and its Welch standard error."""
    a, b = y[treated], y[~treated]
    for arm, v in (("treatment", a), ("control", b)):
        if len(v) < 2:
            raise InputError(f"{arm} units == {len(v)}, must be >= 2 for a variance.")
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return float(a.mean() - b.mean()), se


def triggered_effect(
    y: NDArray[np.float64], treated: NDArray[np.bool_], triggered: NDArray[np.bool_]
) -> TriggeredEffect:
    """Triggered, diluted and untriggered effects of a per-unit metric ``y`` (see the module).

    ``y`` must already count, for triggered units, only outcomes from their first triggered
    request on; untriggered units keep their whole-window value (used by the ITT estimate).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> trig = rng.random(4000) < 0.2
        >>> t = rng.random(4000) < 0.5
        >>> y = rng.normal(size=4000) + 0.5 * (t & trig)
        >>> e = triggered_effect(y, t, trig)
        >>> round(e.trigger_rate, 1), e.width_ratio < 1
        (0.2, True)
    """
    y = np.asarray(y, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    triggered = np.asarray(triggered, dtype=bool)
    if not (y.shape == treated.shape == triggered.shape) or y.ndim != 1:
        raise InputError(
            f"shapes y {y.shape}, treated {treated.shape}, triggered {triggered.shape}: "
            "must be equal and 1-D."
        )
    if not np.isfinite(y).all():
        raise InputError("y has a non-finite value, must be finite.")
    n = len(y)
    r = float(triggered.mean()) if n else 0.0
    d_t, se_t = _welch(y[triggered], treated[triggered])
    d_i, se_i = _welch(y, treated)
    diluted = r * d_t
    se_d = float(np.sqrt(r * r * se_t * se_t + d_t * d_t * r * (1 - r) / n))
    p = float(2 * sps.norm.sf(abs(d_t) / se_t)) if se_t > 0 else float("nan")
    return TriggeredEffect(
        trigger_rate=r,
        triggered=d_t,
        triggered_se=se_t,
        diluted=diluted,
        diluted_se=se_d,
        untriggered=d_i,
        untriggered_se=se_i,
        width_ratio=se_d / se_i if se_i > 0 else float("nan"),
        p_value=p,
    )
