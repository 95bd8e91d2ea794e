"""The calibration audit end to end: simulator → policy → exposures → unit SQL → re-hashed tests.

The slow module fixture runs ``run_audit`` once with its default sizes (200k simulated users,
≈ 75k exposed units, 1,000 replications; ≈ 70 s on 2 cores) and each slow test checks one claim
of the report. Pass bands follow from R (an exact binomial test at 1 %); with R = 1,000 a true
5 % rate has sd 0.69 pp, so [3.5 %, 6.5 %] is ±2.2 sd; a true 95 % coverage has sd 0.69 pp.
The slow suite also audits several worlds (20k–100k users, three seeds, ≈ 45 s together), gated
at a Bonferroni band over all of their checks. The fast tests check the audit's own machinery
against independent oracles (the scalar GrowthBook hash, statistics reduced per replication from
its own units, scipy's Welch test, statsmodels' OLS and Clopper–Pearson interval) on a small
simulated log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from pydantic import ValidationError
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint
from typer.testing import CliRunner

from shoplab.analysis import analyze_assignments, unit_aggregates
from shoplab.analysis.engine import metric_test_options
from shoplab.analysis.stats import SufficientStatistic, two_sample_effect
from shoplab.audit import (
    AUDITED_METRICS,
    COVERAGE_METRICS,
    AuditReport,
    AuditSettings,
    audit_experiments,
    binomial_ci,
    rehash_assignments,
    render_json,
    render_markdown,
    run_audit,
    save_report,
)
from shoplab.audit.checks import acceptance_band, drop_treatment_units
from shoplab.audit.interleaving import INTERLEAVING_METRIC, interleaving_aa, logged_lists
from shoplab.audit.rehash import rehash_salt
from shoplab.audit.world import AA_KEY, data_root_at, simulate_world
from shoplab.experiments import bucket_v2

SMALL = AuditSettings(users=6_000, items=1_000, replications=40, srm_units=20_000)


# --- fast: the machinery against independent oracles ----------------------------------------


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small audit world (6k users × 21 days, ≈ 1 s), simulated once for the fast tests."""
    root = tmp_path_factory.mktemp("audit-small")
    with data_root_at(root):
        simulate_world(SMALL)
    return root


@pytest.fixture
def small_units(small_world: Path) -> Iterator[object]:
    with data_root_at(small_world):
        yield unit_aggregates(audit_experiments(SMALL)[AA_KEY], metrics=list(AUDITED_METRICS))


def test_rehash_matches_the_scalar_growthbook_hash() -> None:
    ids = np.array([1, 7, 42, 999, 10_000, 123_456_789], dtype=np.int64)
    a = rehash_assignments(ids, 3, "salt")
    for r in range(3):
        expected = [bucket_v2(f"salt:{r}:", str(i)) >= 5_000 for i in ids]
        assert a[r].tolist() == [int(x) for x in expected]


def test_replications_share_no_hash_draw() -> None:
    """The v2 hash reads salt + id: every (replication, unit) pair must hash a string of its own.

    Without the trailing separator, replication 1's unit 2345 and replication 12's unit 345 were
    the same draw ("s:12345"); 7.3 % of the 50k-user audit's draws were shared, the replications
    were dependent, and gmv_per_user's A/A rate read 7.6 % at seed 7 (see ``rehash_salt``).
    """
    ids = [str(i) for i in range(1, 10_001)]
    for salt, distinct in ((rehash_salt, True), (lambda p, r: f"{p}:{r}", False)):
        strings = {salt("s", r) + i for r in range(30) for i in ids}
        assert (len(strings) == 30 * len(ids)) is distinct


def test_rehash_rows_are_fresh_independent_halves() -> None:
    a = rehash_assignments(np.arange(1, 20_001, dtype=np.int64), 50, "fresh").astype(float)
    shares = a.mean(axis=1)
    assert np.all(np.abs(shares - 0.5) < 4 * np.sqrt(0.25 / 20_000))  # each row ≈ 50/50
    corr = np.corrcoef(a)[np.triu_indices(50, 1)]
    assert np.abs(corr).max() < 5 / np.sqrt(20_000)  # salts are independent: |ρ| ≲ 5 sd


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"replications": 0}, r"replications == 0, must be >= 1"),
        ({"treatment_share": 1.0}, r"treatment_share == 1.0, must be in \(0, 1\)"),
    ],
)
def test_rehash_rejects_bad_input(kwargs: dict[str, float], match: str) -> None:
    args = {"unit_ids": np.arange(1, 10), "replications": 2, "prefix": "x"} | kwargs
    with pytest.raises(ValueError, match=match):
        rehash_assignments(**args)  # type: ignore[arg-type]


def test_analyze_assignments_equals_per_replication_statistics(small_units: object) -> None:
    """The stacked product, and its control = totals − treatment shortcut, against sufficient
    statistics reduced row by row from each replication's own units, with the lift applied to
    those units' numerators (not to the statistics). Putting every 7th unit in no arm (value 2)
    takes the two-product path."""
    units = small_units
    ids = units.table.get_column("unit_id").to_numpy()  # type: ignore[attr-defined]
    full = rehash_assignments(ids, 6, "oracle")
    partial = full.copy()
    partial[:, ::7] = 2
    by_name = {m.name: m for m in units.metrics}  # type: ignore[attr-defined]
    for assign in (full, partial):
        for cuped, lift in ((False, 0.0), (True, 0.0), (True, 0.05)):
            metrics = [m for m in AUDITED_METRICS if not (lift and m == "buyer_rate")]
            got = analyze_assignments(units, assign, cuped=cuped, metrics=metrics, lift=lift)  # type: ignore[arg-type]
            for m in metrics:
                v = units.variables(m)  # type: ignore[attr-defined]
                for r in range(assign.shape[0]):
                    treated = v[assign[r] == 1].copy()
                    treated[:, 0] *= 1.0 + lift
                    ref = two_sample_effect(
                        SufficientStatistic.from_units(v[assign[r] == 0]),
                        SufficientStatistic.from_units(treated),
                        cuped=cuped,
                        **metric_test_options(by_name[m]),
                    )
                    for field in ("abs_effect", "abs_se", "pvalue", "rel_ci_lower", "theta"):
                        np.testing.assert_allclose(
                            np.asarray(getattr(got[m], field))[r],
                            getattr(ref, field),
                            rtol=1e-9,
                            atol=1e-12,
                            err_msg=f"{m} {field} cuped={cuped} lift={lift} replication {r}",
                        )


def test_withheld_replications_are_the_rows_a_scorecard_would_withhold(
    small_units: object,
) -> None:
    """At a 5 % treatment share of ≈ 2k units, a replication has no p-value exactly when the
    scorecard row of the same statistics says too_few_units (too skewed), and only there."""
    from shoplab.analysis.rows import effect_fields

    units = small_units
    ids = units.table.get_column("unit_id").to_numpy()  # type: ignore[attr-defined]
    assign = rehash_assignments(ids, 8, "skew", treatment_share=0.05)
    by_name = {m.name: m for m in units.metrics}  # type: ignore[attr-defined]
    got = analyze_assignments(units, assign, cuped=True, metrics=["gmv_per_user", "ctr"])  # type: ignore[arg-type]
    assert np.isnan(got["gmv_per_user"].pvalue).all()  # the heavy tail: withheld
    assert not np.isnan(got["ctr"].pvalue).any()  # a ratio: not subject to the rule
    for m in ("gmv_per_user", "ctr"):
        v = units.variables(m)  # type: ignore[attr-defined]
        for r in range(assign.shape[0]):
            f = effect_fields(
                by_name[m],
                SufficientStatistic.from_units(v[assign[r] == 0]),
                SufficientStatistic.from_units(v[assign[r] == 1]),
                cuped=True,
                alpha=0.05,
                tuning_n=1_000,
            )
            assert ("pvalue" not in f) == bool(np.isnan(got[m].pvalue[r])), (m, r, f)
            if "pvalue" not in f:
                assert f["status"] == "too_few_units"
                assert "too skewed" in f["detail"]


def test_unbalanced_aa_gates_only_the_upper_end() -> None:
    """Withholding at an unbalanced share lowers the rate: that passes; too many rejections fail."""
    from shoplab.audit.checks import aa_checks

    none = np.full(1_000, np.nan)
    many = np.ones(1_000)
    many[:90] = 0.001
    effects = {True: {"gmv_per_user": type("E", (), {"pvalue": none})()}}
    (withheld,) = aa_checks(effects, 0.05, treatment_share=0.1)  # type: ignore[arg-type]
    assert (withheld.rate, withheld.withheld, withheld.passed) == (0.0, 1.0, True)
    (balanced,) = aa_checks(effects, 0.05)  # type: ignore[arg-type]
    assert not balanced.passed  # a balanced A/A that never tests is broken
    effects = {True: {"gmv_per_user": type("E", (), {"pvalue": many})()}}
    (inflated,) = aa_checks(effects, 0.05, treatment_share=0.1)  # type: ignore[arg-type]
    assert not inflated.passed


def test_one_replication_of_gmv_per_user_cuped_is_statsmodels_ols(small_units: object) -> None:
    """CUPED through the audit path == OLS of GMV on treatment and the centered pre-period GMV."""
    units = small_units
    ids = units.table.get_column("unit_id").to_numpy()  # type: ignore[attr-defined]
    assign = rehash_assignments(ids, 1, "ols")
    e = analyze_assignments(units, assign, cuped=True, metrics=["gmv_per_user"])["gmv_per_user"]  # type: ignore[arg-type]
    v = units.variables("gmv_per_user")  # type: ignore[attr-defined]
    y, pre = v[:, 0], v[:, 2]
    X = sm.add_constant(np.c_[assign[0], pre - pre.mean()])
    fit = sm.OLS(y, X).fit()
    assert float(e.abs_effect[0]) == pytest.approx(fit.params[1], rel=1e-9)
    assert float(e.theta[0]) == pytest.approx(fit.params[2], rel=1e-9)


def test_one_replication_of_gmv_per_user_is_scipy_welch(small_units: object) -> None:
    units = small_units
    ids = units.table.get_column("unit_id").to_numpy()  # type: ignore[attr-defined]
    assign = rehash_assignments(ids, 1, "welch")
    e = analyze_assignments(units, assign, cuped=False, metrics=["gmv_per_user"])["gmv_per_user"]  # type: ignore[arg-type]
    x = units.variables("gmv_per_user")[:, 0]  # type: ignore[attr-defined]
    ref = sps.ttest_ind(x[assign[0] == 1], x[assign[0] == 0], equal_var=False)
    assert float(e.pvalue[0]) == pytest.approx(ref.pvalue, rel=1e-9)
    assert float(e.abs_effect[0]) == pytest.approx(
        x[assign[0] == 1].mean() - x[assign[0] == 0].mean(), rel=1e-12
    )


@pytest.mark.parametrize(("k", "n"), [(0, 1000), (50, 1000), (951, 1000), (7, 40)])
def test_binomial_ci_is_clopper_pearson(k: int, n: int) -> None:
    lo, hi = binomial_ci(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="beta")
    assert lo == pytest.approx(ref_lo, abs=1e-12)
    assert hi == pytest.approx(ref_hi, abs=1e-12)


def test_broken_log_drops_exactly_the_share_of_treatment_units() -> None:
    first = pl.DataFrame(
        {"unit_id": np.arange(1, 10_001), "variant": ["control", "treatment"] * 5_000}
    )
    broken = drop_treatment_units(first, "treatment", 0.02, seed=1)
    counts = dict(broken.group_by("variant").len().iter_rows())
    assert counts == {"control": 5_000, "treatment": 4_900}


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("users", 10, "users"), ("alpha", 0.7, "alpha"), ("surprise", 1, "surprise")],
)
def test_settings_reject_bad_values(field: str, value: float, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AuditSettings(**{field: value})


def test_cli_rejects_bad_sizes_naming_the_option(data_root: Path) -> None:
    from shoplab.cli import app

    res = CliRunner().invoke(app, ["audit", "--users", "5"])
    assert res.exit_code == 2
    assert "--users == 5" in res.output


def test_interleaving_aa_replication_is_statsmodels_clustered_ols(small_world: Path) -> None:
    """One replication's p-value against an independent oracle on the small world's lists.

    With the same list on both teams, team-draft gives slot 2r to A exactly when round r's flip
    says A picks first, and slot 2r + 1 to the other (closed form, not ``team_draft``); the
    request's outcome is the sign of B's minus A's clicks, and the preference test is the OLS of
    it on an intercept with user-clustered errors.
    """
    from shoplab.experiments.interleaving import coin_flips, rounds_for

    with data_root_at(small_world):
        lists = logged_lists(2_000, k=10, seed=1)
    n, k = lists.items.shape
    assert k == 10
    assert 1_500 <= n <= 2_000
    # whole users: every request of a kept user is in
    assert len(np.unique(lists.request_id)) == n
    res = interleaving_aa(*lists, replications=3, seed="oracle")
    for r in range(3):
        flips = coin_flips(f"oracle:{r}", lists.request_id, rounds_for(k))
        a_first = np.repeat(flips, 2, axis=1)[:, :k]
        is_b = np.where(np.arange(k) % 2 == 0, ~a_first, a_first)
        y = np.sign((lists.clicked & is_b).sum(1) - (lists.clicked & ~is_b).sum(1))
        fit = sm.OLS(y.astype(float), np.ones(n)).fit(
            cov_type="cluster", cov_kwds={"groups": lists.user}
        )
        assert res.pvalues[r] == pytest.approx(float(fit.pvalues[0]), rel=1e-9)


@pytest.mark.slow
def test_interleaving_aa_false_positive_rate_on_one_log(small_world: Path) -> None:
    """1,000 re-drawn coin flips on one log: the preference test rejects ≈ 5 % (≈ 15 s)."""
    with data_root_at(small_world):
        lists = logged_lists(5_000, k=10, seed=2)
    res = interleaving_aa(*lists, replications=1_000, seed="slow-aa")
    assert 0.035 <= res.fpr <= 0.065, res.fpr
    assert not np.isnan(res.pvalues).any()
    # p-values uniform under the null (KS at 1 %)
    assert sps.kstest(res.pvalues, "uniform").pvalue > 0.01


# --- slow: the audit itself -----------------------------------------------------------------


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditReport:
    return run_audit(AuditSettings(), root=tmp_path_factory.mktemp("audit-world"))


@pytest.mark.slow
def test_aa_false_positive_rates_within_band(report: AuditReport) -> None:
    balanced = [
        a for a in report.aa if a.treatment_share == 0.5 and a.metric != INTERLEAVING_METRIC
    ]
    seen = {(a.metric, a.cuped) for a in balanced}
    assert seen == {(m, c) for m in AUDITED_METRICS for c in (False, True)}
    for a in report.aa:
        assert a.replications >= 1_000
        assert 0.035 <= a.rate <= 0.065, a
        assert a.ci_lower <= a.rate <= a.ci_upper
        assert (a.band_lower, a.band_upper) == acceptance_band(0.05, a.replications, 0.01)
        assert a.passed
    # ≈ 75k units: a 10 % arm is large enough for every p-value to be reported (and calibrated)
    il = next(a for a in report.aa if a.metric == INTERLEAVING_METRIC)
    assert il.replications == report.settings.replications
    assert il.withheld == 0.0
    uneven = [a for a in report.aa if a.treatment_share == 0.1]
    assert {a.metric for a in uneven} == set(AUDITED_METRICS)
    assert all(a.withheld == 0.0 for a in uneven)
    assert report.dataset.exposed_units > 50_000


@pytest.mark.slow
def test_coverage_of_a_known_lift_and_power(report: AuditReport) -> None:
    assert {c.metric for c in report.coverage} == {"ctr", "cvr", "gmv_per_user"}
    for c in report.coverage:
        assert 0.935 <= c.coverage <= 0.965, c
        assert (c.band_lower, c.band_upper) == acceptance_band(0.95, c.replications, 0.01)
        assert c.passed
        assert c.mean_rel_effect == pytest.approx(0.05, abs=0.01), c  # unbiased
    power = {c.metric: c.power for c in report.coverage}
    # a +5 % CTR lift on ≈ 75k users is many standard errors away; orders are rare, so CVR and
    # GMV per user have far less power: the ordering is what the variances imply
    assert power["ctr"] > 0.9
    assert power["cvr"] < power["ctr"]
    assert power["gmv_per_user"] < power["ctr"]


@pytest.mark.slow
def test_simulator_injected_click_effect_is_recovered(report: AuditReport) -> None:
    by = {e.metric: e for e in report.simulated_effect}
    ctr, cvr = by["ctr"], by["cvr"]
    assert ctr.status == "ok", ctr
    assert ctr.covered, ctr  # the CI holds click_mult − 1 = +10 %
    assert ctr.rel_ci_lower is not None
    assert ctr.rel_ci_lower > 0
    assert cvr.covered, cvr  # clicks × 1.1 leave orders per click unchanged


@pytest.mark.slow
def test_daily_peeking_always_valid_vs_naive(report: AuditReport) -> None:
    for q in report.sequential:
        assert q.looks == 14
        assert q.always_valid_rate <= 0.05, q
        assert q.naive_rate >= 0.10, q  # 14 fixed-horizon looks: ≈ 20 %, visibly inflated
        assert 0.03 <= q.final_look_rate <= 0.07, q  # one look is an ordinary 5 % test


@pytest.mark.slow
def test_cuped_reduction_is_real_and_matches_the_model(report: AuditReport) -> None:
    by = {c.metric: c for c in report.cuped}
    assert by["ctr"].empirical_variance_reduction > 0.05
    for c in report.cuped:
        assert c.empirical_variance_reduction > -0.02, c  # CUPED never costs variance
        # the scorecard's reduction estimate agrees with the reduction achieved across re-hashes
        assert c.model_variance_reduction == pytest.approx(
            c.empirical_variance_reduction, abs=0.04
        ), c


@pytest.mark.slow
def test_srm_flags_the_broken_log_only(report: AuditReport) -> None:
    policy = [s for s in report.srm if s.source == "policy_log"]
    intact = next(s for s in policy if not s.broken)
    broken = next(s for s in policy if s.broken)
    assert not intact.mismatch
    assert intact.pvalue > 0.001
    assert broken.mismatch
    assert broken.pvalue < 0.001
    assert intact.units - broken.units == round(0.02 * intact.observed["control_copy"])
    assert report.passed


@pytest.mark.slow
def test_report_renders_and_saves(report: AuditReport, tmp_path: Path) -> None:
    md = render_markdown(report)
    assert (
        md.count("\n| ")
        == len(report.aa)
        + len(report.coverage)
        + len(report.simulated_effect)
        + len(report.sequential)
        + len(report.cuped)
        + len(report.srm)
        + 1
    )  # + header
    doc = json.loads(render_json(report))
    assert doc["passed"] is True
    assert doc["aa"][0]["rate"] == report.aa[0].rate
    latest = save_report(report, tmp_path)
    assert latest.read_text() == md
    assert json.loads((tmp_path / "latest.json").read_text()) == doc


@pytest.mark.slow
def test_cli_audit_prints_saves_and_exits_by_verdict(data_root: Path) -> None:
    shoplab = str(Path(sys.executable).with_name("shoplab"))
    res = subprocess.run(
        [shoplab, "audit", "--users", "30000", "--replications", "1000", "--format", "json"],
        env={**os.environ, "SHOPLAB_DATA": str(data_root)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    assert doc["passed"] is (res.returncode == 0)  # exit code = verdict (CI can gate on it)
    assert doc["settings"]["users"] == 30_000
    # 8 balanced (with and without CUPED) + 4 unbalanced + the interleaving A/A
    assert len(doc["aa"]) == 13
    assert doc["aa"][-1]["metric"] == INTERLEAVING_METRIC
    assert doc["aa"][0]["replications"] == 1_000
    saved = data_root / "audit"
    assert json.loads((saved / "latest.json").read_text()) == doc
    assert "| check | metric | measured | expected | result |" in (saved / "latest.md").read_text()
    assert (saved / "world" / "events" / "impressions").is_dir()
    assert not (data_root / "events").exists()  # the demo's event log is never touched


# --- slow: the audit on several worlds -------------------------------------------------------

WORLDS: dict[str, tuple[int, int]] = {
    "50k-seed7": (50_000, 7),  # the world: gmv_per_user read 7.6 % before rehash_salt
    "20k-seed3": (20_000, 3),  # ≈ 7.4k units, ≈ 450 buyers
    "100k-seed11": (100_000, 11),  # ≈ 37k units
}
# A/A ×2, unbalanced, coverage, and the interleaving A/A
GATED_PER_WORLD = 3 * len(AUDITED_METRICS) + len(COVERAGE_METRICS) + 1
WORLD_BAND_ALPHA = 0.01 / (len(WORLDS) * GATED_PER_WORLD)
"""Bonferroni over every gated rate of every world: a correct method fails this suite with
probability <= 1 %, as one world at the default band_alpha does (33 checks at 1 % each would
fail a correct method about one run in four)."""


class NamedReport(NamedTuple):
    world: str
    report: AuditReport


@pytest.fixture(scope="module", params=list(WORLDS))
def world_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> NamedReport:
    """The full audit of one world (≈ 5 s at 20k users, 10 s at 50k, 20 s at 100k on 2 cores)."""
    users, seed = WORLDS[request.param]
    settings = AuditSettings(users=users, seed=seed, band_alpha=WORLD_BAND_ALPHA)
    return NamedReport(
        request.param, run_audit(settings, root=tmp_path_factory.mktemp(f"audit-{request.param}"))
    )


@pytest.mark.slow
def test_every_world_is_calibrated(world_report: NamedReport) -> None:
    """A/A rates, coverage, always-valid peeking and SRM on each world, not just the default."""
    name, report = world_report
    assert len(report.aa) == GATED_PER_WORLD - len(COVERAGE_METRICS)
    for a in report.aa:
        assert a.passed, (name, a)
    for c in report.coverage:
        assert c.passed, (name, c)
    for q in report.sequential:
        assert q.passed, (name, q)
    for srm in report.srm:
        assert srm.passed or srm.source != "policy_log", (name, srm)
    if name == "20k-seed3":  # 7.4k units: a 10 % arm of GMV is too skewed to test (unreported)
        gmv = next(a for a in report.aa if a.treatment_share == 0.1 and a.metric == "gmv_per_user")
        assert gmv.withheld == 1.0, gmv
    if name == "50k-seed7":  # the regression itself, at the sharp single-check band
        lo, hi = acceptance_band(0.05, 1_000, 0.01)
        for a in report.aa:
            if a.metric == "gmv_per_user" and a.treatment_share == 0.5:
                assert lo <= a.rate <= hi, a
        gmv = next(c for c in report.coverage if c.metric == "gmv_per_user")
        assert acceptance_band(0.95, 1_000, 0.01)[0] <= gmv.coverage, gmv


@pytest.mark.parametrize("trials", [300, 1_000, 2_000])
@pytest.mark.parametrize("nominal", [0.05, 0.95])
def test_acceptance_band_is_the_exact_binomial_test(trials: int, nominal: float) -> None:
    """The pass band follows from the replications: every rate inside is one that an equal-tailed
    exact binomial test at 1 % does not reject, every rate just outside is rejected, and a
    correct method fails at most 1 % of audits (simulated with binomial draws)."""
    lo, hi = acceptance_band(nominal, trials, 0.01)
    k_lo, k_hi = round(lo * trials), round(hi * trials)
    tail = sps.binom
    assert tail.cdf(k_lo, trials, nominal) > 0.005
    assert tail.sf(k_hi - 1, trials, nominal) > 0.005
    assert tail.cdf(k_lo - 1, trials, nominal) <= 0.005  # one below the band: rejected
    assert tail.sf(k_hi, trials, nominal) <= 0.005  # one above the band: rejected
    draws = np.random.default_rng(trials).binomial(trials, nominal, 200_000) / trials
    fails = float(((draws < lo) | (draws > hi)).mean())
    assert fails <= 0.01
    assert fails > 0.002  # not a vacuous band either


def test_a_rate_whose_interval_holds_the_target_passes_at_300_replications() -> None:
    """7.7 % false positives over 300 replications: its Clopper–Pearson interval holds 5 %, so
    the audit must not call it a FAIL (the fixed [3.5 %, 6.5 %] band did)."""
    from shoplab.audit.checks import aa_checks, binomial_ci

    p = np.ones(300)
    p[:23] = 0.001
    effect = type("E", (), {"pvalue": p})()
    (check,) = aa_checks({False: {"ctr": effect}}, 0.05, 0.01)  # type: ignore[dict-item]
    assert check.rate == pytest.approx(23 / 300)
    assert binomial_ci(23, 300)[0] < 0.05 < check.ci_upper
    assert check.passed
    assert check.band_upper > check.rate
    fixed_band = (0.035, 0.065)
    (fixed,) = aa_checks({False: {"ctr": effect}}, 0.05, 0.01, fixed_band)  # type: ignore[dict-item]
    assert not fixed.passed
