"""The sensitivity benchmark's power machinery: subsampled power agrees with the closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from shoplab.benchmarks.sensitivity import _curve, users_for_power


def test_subsampled_users_for_80_percent_power_match_the_normal_projection() -> None:
    rng = np.random.default_rng(4)
    n, mu = 40_000, 0.03  # per-user differences with a small mean: n80 = (2.80 / 0.03)² ≈ 8,700
    d = rng.normal(mu, 1.0, n)
    keys = rng.random((300, n)).argsort(axis=1).argsort(axis=1)

    def significant(mask: np.ndarray) -> np.ndarray:
        m = mask.sum(axis=1)
        mean = (mask * d).sum(axis=1) / m
        var = ((mask * d**2).sum(axis=1) - m * mean**2) / (m - 1)
        z = mean / np.sqrt(var / m)
        return (2 * sps.norm.sf(np.abs(z)) < 0.05) & (z > 0)

    z_full = d.mean() / (d.std(ddof=1) / np.sqrt(n))
    sizes = np.unique(np.geomspace(n / 64, n, 13).astype(np.int64))
    c = _curve("synthetic", n, sizes, significant, keys, float(z_full))
    assert np.all(np.diff(c.power[:-1]) > -0.08)  # power grows with m (up to replicate noise)
    assert c.n80 is not None
    assert c.n80 <= n / 2
    assert c.n80 == pytest.approx(c.n80_projected, rel=0.25)
    assert c.n80 == pytest.approx((2.8016 / mu) ** 2, rel=0.3)


def test_users_for_power_reads_only_the_sizes_allowed() -> None:
    sizes, power = np.array([100, 200, 400, 800]), np.array([0.2, 0.5, 0.7, 0.95])
    assert users_for_power(sizes, power, max_size=400) is None
    assert 400 < (users_for_power(sizes, power) or 0) < 800
