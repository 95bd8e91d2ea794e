"""Calibration by simulation: false-positive rates, interval coverage, sequential peeking, SRM.

Quick tests simulate sufficient statistics of normal data directly (exact: for normal samples Σx
and the centered sum of squares are independent, N(·) and χ²), so 4,000 replications × 14 looks
cost milliseconds. Slow tests run the real engine on a synthetic 50k-user event log with 1,000
random re-assignments (``unit_aggregates`` once, then ``analyze_assignments``).

Monte Carlo bands: with R = 1,000 a true 5 % rate has sd 0.69 pp. The slow engine checks use the
audit's exact binomial band at ``BAND_ALPHA`` per check ([3.3 %, 6.9 %] at R = 1,000): a fixed
[3.5 %, 6.5 %] is ±2.2 sd, and over 14 metric × CUPED checks a correct method failed one of them
about a third of the time (it did when the synthetic log changed: cvr with CUPED at 6.6 %).
The quick tests keep fixed bands at R = 4,000 (a true 95 % coverage has sd 0.34 pp).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from shoplab.analysis import analyze, analyze_assignments, unit_aggregates
from shoplab.analysis.bayes import bayes_readout
from shoplab.analysis.sequential import confidence_sequence_halfwidth, mixture_rho
from shoplab.analysis.srm import srm_test
from shoplab.analysis.stats import SufficientStatistic, two_sample_effect
from shoplab.audit.checks import acceptance_band
from shoplab.benchmarks.analysis import synthesize_event_log
from tests.analysis.builders import make_experiment

BAND_ALPHA = 0.01
"""Per-check size of the binomial acceptance band of the slow engine checks."""


def _normal_stats(
    rng: np.random.Generator, reps: int, looks: int, per_look: int, mean: float, sd: float
) -> SufficientStatistic:
    """Cumulative sufficient statistics (reps × looks) of iid N(mean, sd²) units."""
    k = per_look
    s = rng.normal(mean * k, sd * np.sqrt(k), (reps, looks))
    centered = sd**2 * rng.chisquare(k - 1, (reps, looks))
    ss = centered + s**2 / k
    n = np.cumsum(np.full((reps, looks), float(k)), axis=1)
    s, ss = np.cumsum(s, axis=1), np.cumsum(ss, axis=1)
    sums = np.zeros((reps, looks, 4))
    sums[..., 0], sums[..., 1], sums[..., 2], sums[..., 3] = s, n, n, n
    sp = np.zeros((reps, looks, 4, 4))
    sp[..., 0, 0] = ss
    for j in (1, 2, 3):
        sp[..., 0, j] = sp[..., j, 0] = s
    sp[..., 1:, 1:] = n[..., None, None]
    return SufficientStatistic(n, sums, sp)


def test_sequential_fpr_with_daily_looks_and_naive_peeking() -> None:
    rng = np.random.default_rng(1)
    reps, looks, per_look = 4000, 14, 500
    c = _normal_stats(rng, reps, looks, per_look, 10.0, 3.0)
    t = _normal_stats(rng, reps, looks, per_look, 10.0, 3.0)
    e = two_sample_effect(c, t)
    hw = confidence_sequence_halfwidth(e.abs_se, c.n + t.n, tuning_n=2 * looks * per_look)
    always_valid = (np.abs(e.abs_effect) > hw).any(axis=1).mean()
    naive = (e.pvalue < 0.05).any(axis=1).mean()
    final = (e.pvalue[:, -1] < 0.05).mean()
    assert always_valid <= 0.05
    assert naive > 0.12  # peeking 14 times at α = 0.05 gives ≈ 20 % false positives
    assert 0.043 <= final <= 0.057  # one look: ≈ 5 % (±2 sd at R = 4,000)


def test_fixed_horizon_coverage_of_a_known_effect() -> None:
    rng = np.random.default_rng(2)
    c = _normal_stats(rng, 4000, 1, 2000, 10.0, 3.0)
    t = _normal_stats(rng, 4000, 1, 2000, 10.3, 3.0)
    e = two_sample_effect(c, t)
    covered = ((e.ci_lower <= 0.3) & (0.3 <= e.ci_upper)).mean()
    rel_covered = ((e.rel_ci_lower <= 0.03) & (0.03 <= e.rel_ci_upper)).mean()
    assert 0.935 <= covered <= 0.965
    assert 0.935 <= rel_covered <= 0.965


def test_mixture_rho_matches_closed_form_and_halfwidth_shrinks() -> None:
    a = 0.05
    assert mixture_rho(5000, a) == pytest.approx(
        np.sqrt((-2 * np.log(a) + np.log(-2 * np.log(a) + 1)) / 5000), rel=1e-12
    )
    hw = confidence_sequence_halfwidth(np.array([1.0, 0.5, 0.25]), np.array([1e3, 4e3, 1.6e4]))
    assert hw[0] > hw[1] > hw[2]
    with pytest.raises(ValueError, match=r"tuning_n == 0, must be > 0"):
        mixture_rho(0, 0.05)


@pytest.mark.parametrize(
    ("counts", "weights"),
    [
        ({"a": 5000, "b": 4800}, {"a": 0.5, "b": 0.5}),
        ({"a": 1000, "b": 2100, "c": 2900}, {"a": 0.2, "b": 0.3, "c": 0.5}),
    ],
)
def test_srm_equals_scipy_chisquare(counts: dict[str, int], weights: dict[str, float]) -> None:
    res = srm_test(counts, weights)
    obs = np.array(list(counts.values()), dtype=float)
    exp = np.array(list(weights.values())) * obs.sum()
    ref = sps.chisquare(obs, exp)
    assert res.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_srm_units_in_zero_weight_variant_are_a_mismatch() -> None:
    res = srm_test({"a": 100, "b": 100, "c": 3}, {"a": 0.5, "b": 0.5, "c": 0.0})
    assert res.mismatch
    assert res.pvalue == 0.0
    with pytest.raises(ValueError, match=r"weights == .*, must be >= 0"):
        srm_test({"a": 1}, {"a": -1.0})


# --- slow: the real engine on a synthetic event log ------------------------------------------

AUDITED = ("ctr", "cvr", "gmv_per_user", "buyer_rate")


@pytest.fixture(scope="module")
def aa_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aa-log")
    synthesize_event_log(root, users=50_000, seed=21)  # A/A: no injected effect
    return root


@pytest.mark.slow
def test_aa_false_positive_rate_over_1000_reassignments(
    aa_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(aa_log))
    units = unit_aggregates(make_experiment(), metrics=list(AUDITED))
    rng = np.random.default_rng(5)
    assign = (rng.random((1000, units.table.height)) < 0.5).astype(np.int8)
    lo, hi = acceptance_band(0.05, 1000, BAND_ALPHA)
    for cuped in (False, True):
        effects = analyze_assignments(units, assign, cuped=cuped)
        for m in AUDITED:
            fpr = float((effects[m].pvalue < 0.05).mean())
            assert lo <= fpr <= hi, (m, cuped, fpr, (lo, hi))
            # the Bayesian read-out of the same replications: chance to win ~ U(0, 1) in A/A
            e = effects[m]
            ok = np.isfinite(e.abs_effect) & (e.abs_se > 0)
            chances = [
                r.chance_to_win
                for x, s in zip(e.abs_effect[ok], e.abs_se[ok], strict=True)
                if (r := bayes_readout(float(x), float(s), higher_is_better=True)) is not None
            ]
            assert len(chances) > 900, (m, len(chances))
            assert sps.kstest(chances, "uniform").pvalue > 0.01, (m, cuped)


@pytest.mark.slow
def test_coverage_of_injected_lift_over_1000_reassignments(
    aa_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_DATA", str(aa_log))
    units = unit_aggregates(make_experiment(), metrics=["ctr", "cvr", "gmv_per_user"])
    rng = np.random.default_rng(6)
    assign = (rng.random((1000, units.table.height)) < 0.5).astype(np.int8)
    effects = analyze_assignments(units, assign, lift=0.05)
    lo, hi = acceptance_band(0.95, 1000, BAND_ALPHA)
    for m, e in effects.items():
        covered = float(((e.rel_ci_lower <= 0.05) & (0.05 <= e.rel_ci_upper)).mean())
        assert lo <= covered <= hi, (m, covered, (lo, hi))


@pytest.mark.slow
def test_sequential_daily_looks_on_the_engine(
    aa_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-assign 1,000 times, look every day: always-valid FPR ≤ 5 %, naive peeking is worse."""
    monkeypatch.setenv("SHOPLAB_DATA", str(aa_log))
    exp = make_experiment()
    reps, users = 1000, 50_000
    rng = np.random.default_rng(7)
    assign_all = (rng.random((reps, users + 1)) < 0.5).astype(np.int8)  # column = user_id
    crossed = {m: np.zeros(reps, bool) for m in ("ctr", "gmv_per_user")}
    naive = {m: np.zeros(reps, bool) for m in crossed}
    for day in range(1, 15):
        as_of = f"2026-01-{7 + day:02d}"
        units = unit_aggregates(exp, as_of=as_of, metrics=list(crossed))
        cols = units.table["unit_id"].to_numpy()
        effects = analyze_assignments(units, assign_all[:, cols], cuped=True)
        n = float(units.table.height)
        for m, e in effects.items():
            hw = confidence_sequence_halfwidth(e.abs_se, n, tuning_n=45_000)  # fixed in advance
            crossed[m] |= np.abs(e.abs_effect) > hw
            naive[m] |= e.pvalue < 0.05
    for m in crossed:
        assert crossed[m].mean() <= 0.05, (m, crossed[m].mean())
        assert naive[m].mean() > crossed[m].mean()


@pytest.mark.slow
def test_srm_flags_two_percent_dropped_treatment_exposures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """χ² ≈ N f² / 4 for a share f of treatment dropped: f = 2 % needs N ≳ 110k units for
    p < 0.001, so this log has 300k users (≈ 270k exposed, expected χ² ≈ 27)."""
    monkeypatch.setenv("SHOPLAB_DATA", str(tmp_path))
    synthesize_event_log(
        tmp_path, users=300_000, drop_treatment_exposures=0.02, seed=8, impressions_per_user_day=0.3
    )
    card = analyze(make_experiment(), metrics=["ctr"], daily=False)
    assert card.srm.mismatch, card.srm
    assert not card.trustworthy
