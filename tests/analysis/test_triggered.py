"""Triggered / diluted effects against scipy and brute force on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats as sps

from shoplab.analysis.triggered import triggered_effect
from shoplab.core.errors import InputError


def _world(
    seed: int, n: int = 20_000, effect: float = 0.3, rate: float = 0.2
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    trig = rng.random(n) < rate
    t = rng.random(n) < 0.5
    y = rng.normal(1.0, 1.0, n) + effect * (t & trig)
    return y, t, trig


def test_matches_scipy_welch_and_brute_force() -> None:
    y, t, trig = _world(1)
    e = triggered_effect(y, t, trig)
    w = sps.ttest_ind(y[trig & t], y[trig & ~t], equal_var=False)
    assert e.triggered == pytest.approx(y[trig & t].mean() - y[trig & ~t].mean(), rel=1e-12)
    assert e.triggered / e.triggered_se == pytest.approx(w.statistic, rel=1e-12)
    assert e.trigger_rate == pytest.approx(trig.mean())
    assert e.diluted == pytest.approx(trig.mean() * e.triggered, rel=1e-12)
    lo, hi = e.interval("untriggered")
    assert lo <= e.diluted <= hi  # the diluted effect agrees with the ITT analysis
    assert e.width_ratio < 0.75  # clearly narrower
    assert e.interval("triggered")[0] > 0


def test_diluted_se_matches_simulation() -> None:
    ests = np.array([triggered_effect(*_world(s, n=5_000)).diluted for s in range(300)])
    e = triggered_effect(*_world(999, n=5_000))
    assert ests.std(ddof=1) == pytest.approx(e.diluted_se, rel=0.15)
    assert ests.mean() == pytest.approx(0.2 * 0.3, abs=0.01)


def test_aa_false_positive_rate() -> None:
    p = np.array([triggered_effect(*_world(s, n=2_000, effect=0.0)).p_value for s in range(1000)])
    assert 0.035 <= (p < 0.05).mean() <= 0.065


def test_bad_input_names_the_rule() -> None:
    with pytest.raises(InputError, match="must be equal"):
        triggered_effect(np.zeros(3), np.zeros(2, bool), np.zeros(3, bool))
    with pytest.raises(InputError, match="which =="):
        triggered_effect(*_world(0, n=100)).interval("nope")
