"""Interactions between layers: χ² independence of assignments and the 2×2 interaction effect.

Fast tests check the statistics against statsmodels (OLS with an interaction term, HC2 errors),
``analysis.stats.two_sample_effect`` and hand-computed χ². The simulation tests build a real
interaction in the simulator: a policy that multiplies click probability only for users in both
treatments (rank × mix), and check that ``interactions`` flags it, while a main effect in one
layer only (no interaction) is not flagged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import statsmodels.formula.api as smf

from shoplab.analysis.interactions import (
    DEPENDENCE_THRESHOLD,
    InteractionResult,
    assignment_independence,
    concurrent_experiments,
    interaction_effect,
    interactions,
)
from shoplab.analysis.stats import SufficientStatistic, two_sample_effect
from shoplab.audit.world import data_root_at
from shoplab.experiments import Experiment, Metrics, Variant
from shoplab.simulator import ExperimentPolicy, PolicyDecision, simulate

# --- fast: the statistics ------------------------------------------------------------------


def _cells(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = [400, 350, 300, 500]  # unequal cells, unequal variances: HC2 is not homoskedastic OLS
    a = np.repeat([0, 0, 1, 1], sizes).astype(bool)
    b = np.repeat([0, 1, 0, 1], sizes).astype(bool)
    y = rng.gamma(2.0, 1.0 + a + 2 * b + 1.5 * (a & b))
    return y, a, b


def test_mean_metric_interaction_is_ols_with_hc2_errors() -> None:
    y, a, b = _cells(np.random.default_rng(3))
    e = interaction_effect(y, np.ones_like(y), a, b)
    fit = smf.ols("y ~ a * b", data={"y": y, "a": a.astype(float), "b": b.astype(float)}).fit(
        cov_type="HC2"
    )
    assert e.status == "ok"
    assert e.interaction == pytest.approx(fit.params["a:b"], rel=1e-10)
    assert e.se == pytest.approx(fit.bse["a:b"], rel=1e-10)
    assert e.pvalue == pytest.approx(fit.pvalues["a:b"], rel=1e-8)  # both z-tests


def test_ratio_metric_interaction_adds_the_two_delta_method_variances() -> None:
    rng = np.random.default_rng(4)
    den = rng.poisson(20, 2_000).astype(float) + 1
    num = rng.binomial(den.astype(int), 0.04).astype(float)
    a = rng.random(2_000) < 0.5
    b = rng.random(2_000) < 0.5
    e = interaction_effect(num, den, a, b)

    def stat(sel: np.ndarray) -> SufficientStatistic:
        one = np.ones(sel.sum())
        return SufficientStatistic.from_units(np.c_[num[sel], den[sel], one, one])

    # two independent differences, each as a scorecard computes it (delta method, z-test)
    d1 = two_sample_effect(stat(~a & b), stat(a & b), test="z")  # T' row: T − C
    d0 = two_sample_effect(stat(~a & ~b), stat(a & ~b), test="z")  # C' row: T − C
    assert e.interaction == pytest.approx(float(d1.abs_effect - d0.abs_effect), rel=1e-12)
    assert e.se == pytest.approx(float(np.hypot(d1.abs_se, d0.abs_se)), rel=1e-12)
    ratio = {k: v[1] for k, v in e.cells.items()}
    assert ratio["treatment|treatment"] == pytest.approx(num[a & b].sum() / den[a & b].sum())


def test_interaction_statuses_are_explicit() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    a = np.array([0, 0, 0, 1, 1, 1, 1], bool)
    b = np.array([0, 0, 1, 0, 0, 1, 1], bool)  # cell control|treatment has one unit
    e = interaction_effect(y, np.ones(7), a, b)
    assert e.status == "too_few_units"
    assert e.interaction is None
    assert not e.flagged
    flat = interaction_effect(
        np.ones(8), np.ones(8), np.repeat([0, 1], 4).astype(bool), np.tile([0, 1], 4).astype(bool)
    )
    assert flat.status == "zero_variance"
    with pytest.raises(ValueError, match=r"shapes == .*must be equal"):
        interaction_effect(y, np.ones(6), a, b)


def test_independence_chi2_by_hand() -> None:
    # 2×2 with counts [[30, 20], [10, 40]]: expected [[20, 30], [20, 30]]
    a = ["c"] * 50 + ["t"] * 50
    b = ["c"] * 30 + ["t"] * 20 + ["c"] * 10 + ["t"] * 40
    res = assignment_independence(a, b)
    chi2 = 10**2 / 20 + 10**2 / 30 + 10**2 / 20 + 10**2 / 30
    assert res.chi2 == pytest.approx(chi2, rel=1e-12)
    assert res.dof == 1
    assert res.contingency == {"c": {"c": 30, "t": 20}, "t": {"c": 10, "t": 40}}
    assert res.dependent == (res.pvalue is not None and res.pvalue < DEPENDENCE_THRESHOLD)
    assert res.dependent  # χ² ≈ 16.7, p ≈ 4e-5


def test_independence_of_hashed_layers_and_of_a_coupled_client() -> None:
    from shoplab.experiments import gb_hash_ids

    ids = np.arange(1, 40_001, dtype=np.int64)
    a = np.where(gb_hash_ids("layer_rank", ids) < 5_000, "control", "treatment")
    b = np.where(gb_hash_ids("layer_mix", ids) < 5_000, "control", "treatment")
    assert not assignment_independence(a.tolist(), b.tolist()).dependent
    # a client that reuses the rank layer's answer for 10 % of units couples the layers
    coupled = np.where(ids % 10 == 0, a, b)
    res = assignment_independence(a.tolist(), coupled.tolist())
    assert res.dependent
    assert res.pvalue is not None
    assert res.pvalue < 1e-20


# --- the simulator: a real interaction between the rank and mix layers ----------------------

START = datetime(2026, 1, 8, tzinfo=UTC)
END = datetime(2026, 1, 15, tzinfo=UTC)


def _experiment(key: str, layer: str, params: dict[str, float] | None = None) -> Experiment:
    return Experiment(
        key=key,
        layer=layer,
        traffic=1.0,
        status="running",
        start=START,
        end=END,
        owner="ranking-team",
        salt=f"{key}_ix",
        metrics=Metrics(primary="ctr"),
        variants=[
            Variant(key="control", weight=0.5),
            Variant(key="treatment", weight=0.5, params=params or {}),
        ],
    )


class BothTreatmentsBoost:
    """ExperimentPolicy, plus click_mult for users in the rank AND the mix treatment only."""

    def __init__(self, inner: ExperimentPolicy, click_mult: float) -> None:
        self.inner = inner
        self.click_mult = click_mult

    def __call__(self, day: date, active: pl.DataFrame) -> PolicyDecision:
        d = self.inner(day, active)
        treated = d.exposures.filter(pl.col("variant") == "treatment")
        both = (
            treated.group_by("unit_id")
            .agg(pl.col("experiment").n_unique().alias("k"))
            .filter(pl.col("k") == 2)
            .get_column("unit_id")
        )
        params = d.params
        if "click_mult" not in params.columns:
            params = params.with_columns(pl.lit(None, dtype=pl.Float64).alias("click_mult"))
        params = params.with_columns(
            pl.when(pl.col("user_id").is_in(both.implode()))
            .then(pl.lit(self.click_mult))
            .otherwise(pl.col("click_mult"))
            .alias("click_mult")
        )
        return PolicyDecision(params=params, exposures=d.exposures)


def _simulate(root: Path, *, interaction: bool) -> dict[str, Experiment]:
    # main effect in rank either way (+20 % clicks); the interaction adds +30 % only in rank × mix
    exps = {
        "ix_rank": _experiment("ix_rank", "rank", {"click_mult": 1.2} if not interaction else {}),
        "ix_mix": _experiment("ix_mix", "mix"),
    }
    policy = ExperimentPolicy(exps, holdout=False)
    with data_root_at(root):
        simulate(
            users=60_000,
            items=6_000,
            days=14,
            seed=11,
            start="2026-01-01",
            policy=BothTreatmentsBoost(policy, 1.3) if interaction else policy,
        )
    return exps


@pytest.fixture(scope="module")
def with_interaction(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[InteractionResult]]:
    root = tmp_path_factory.mktemp("ix-on")
    exps = _simulate(root, interaction=True)
    with data_root_at(root):
        yield interactions("ix_rank", experiments=exps)


@pytest.fixture(scope="module")
def without_interaction(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[InteractionResult]]:
    root = tmp_path_factory.mktemp("ix-off")
    exps = _simulate(root, interaction=False)
    with data_root_at(root):
        yield interactions("ix_rank", experiments=exps)


def test_simulated_interaction_is_flagged(with_interaction: list[InteractionResult]) -> None:
    (res,) = with_interaction
    assert (res.experiment, res.other, res.metric) == ("ix_rank", "ix_mix", "ctr")
    assert res.units_both > 10_000
    assert not res.independence.dependent  # the layers are still orthogonal
    (e,) = res.effects
    assert e.status == "ok", e
    assert e.flagged, e
    assert e.ci_lower is not None
    assert e.ci_lower > 0
    cells = {k: v[1] for k, v in e.cells.items()}
    # the interaction is ≈ 30 % of the CTR of the treatment|treatment cell's baseline
    assert e.interaction == pytest.approx(0.3 * cells["control|control"], rel=0.5)
    assert res.flagged


def test_no_flag_without_interaction(without_interaction: list[InteractionResult]) -> None:
    (res,) = without_interaction
    (e,) = res.effects
    assert e.status == "ok"
    assert not e.flagged, e
    assert not res.flagged, res
    assert e.ci_lower is not None
    assert e.ci_upper is not None
    assert e.ci_lower < 0 < e.ci_upper
    cells = {k: v[1] for k, v in e.cells.items()}
    # the rank main effect is there (+20 % clicks in both mix arms) and adds up
    assert cells["treatment|control"] > 1.1 * cells["control|control"]
    assert cells["treatment|treatment"] > 1.1 * cells["control|treatment"]


def test_concurrent_experiments_skip_same_layer_drafts_and_disjoint_windows() -> None:
    rank = _experiment("ix_rank", "rank")
    later = _experiment("later", "mix").model_copy(
        update={"start": END, "end": datetime(2026, 2, 1, tzinfo=UTC)}
    )
    same = _experiment("same_layer", "rank")
    draft = _experiment("draft_mix", "mix").model_copy(update={"status": "draft"})
    mix = _experiment("ix_mix", "mix")
    found = concurrent_experiments(rank, {e.key: e for e in (rank, later, same, draft, mix)})
    assert [e.key for e in found] == ["ix_mix"]
