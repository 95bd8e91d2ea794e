"""The public surface: ``analysis.__all__``, the SDK facade, and the two CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shoplab import analysis
from shoplab.analysis import power
from shoplab.benchmarks.analysis import synthesize_event_log

PUBLIC = {
    "STATUSES",
    "ExperimentSpec",
    "Metric",
    "PowerResult",
    "Scorecard",
    "UnitAggregates",
    "ScorecardNotFoundError",
    "SufficientStatistic",
    "UnknownExperimentError",
    "UnknownMetricError",
    "analyze",
    "analyze_assignments",
    "load_scorecard",
    "metric_names",
    "power",
    "save_scorecard",
    "scorecard_schema",
    "unit_aggregates",
    "verdict",
}


def test_all_is_the_public_surface() -> None:
    assert set(analysis.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(analysis, name) is not None
    import shoplab
    from shoplab import sdk

    # key-based entry points live in the integration layer; power needs no experiment
    assert shoplab.analyze is sdk.analyze
    assert shoplab.power is sdk.power
    assert shoplab.power is analysis.power
    assert shoplab.Scorecard is analysis.Scorecard


def test_metric_catalog_builtins_and_user_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builtins = {
        "ctr",
        "cvr",
        "gmv_per_user",
        "orders_per_user",
        "aov",
        "buyer_rate",
        "refund_rate",
        "new_item_exposure_share",
    }
    assert builtins <= analysis.metric_names()
    extra = tmp_path / "m.yaml"
    extra.write_text("metrics:\n  - {name: clicks_per_user, kind: mean, numerator: clicks}\n")
    monkeypatch.setenv("SHOPLAB_METRICS", str(extra))
    assert "clicks_per_user" in analysis.metric_names()
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics:\n  - {name: x, kind: ratio, numerator: clicks}\n")
    monkeypatch.setenv("SHOPLAB_METRICS", str(bad))
    with pytest.raises(ValueError, match="kind == 'ratio' needs a denominator"):
        analysis.metric_names()
    dup = tmp_path / "dup.yaml"
    dup.write_text("metrics:\n  - {name: ctr, kind: mean, numerator: clicks}\n")
    monkeypatch.setenv("SHOPLAB_METRICS", str(dup))
    with pytest.raises(ValueError, match="'ctr' is already defined"):
        analysis.metric_names()


def test_power_equals_closed_form(data_root: Path) -> None:
    synthesize_event_log(data_root, users=20_000, seed=4)
    r = power("gmv_per_user", 0.1, 14)
    # two-sided normal test, equal arms: MDE = (z_{1-α/2} + z_{power}) · sd · sqrt(2 / n)
    from scipy.stats import norm

    mde = (norm.ppf(0.975) + norm.ppf(0.8)) * r.sd * (2 / r.units_per_variant) ** 0.5
    # statsmodels also counts the far rejection tail (≈ 1e-8 of power here): rel 1e-4, not 1e-9
    assert r.mde_abs == pytest.approx(mde, rel=1e-4)
    assert r.units_per_variant == int(r.active_units * 0.1 / 2)
    assert r.mde_rel == pytest.approx(r.mde_abs / abs(r.baseline))
    with pytest.raises(ValueError, match=r"traffic == 1.5, must be in \(0, 1\]"):
        power("gmv_per_user", 1.5, 14)


def _app() -> typer.Typer:
    """A Typer app with only this area's commands (as ``shoplab.cli`` registers them)."""
    from shoplab.analysis_cli import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_analyze_json_markdown_and_errors(data_root: Path) -> None:
    from shoplab.experiments import load_experiments

    if "prerank_candidates" not in load_experiments():
        pytest.skip("experiments/configs has no prerank_candidates config")
    exp = load_experiments()["prerank_candidates"]
    synthesize_event_log(
        data_root,
        users=10_000,
        experiment="prerank_candidates",
        variants=(exp.variants[0].key, exp.variants[1].key),
        seed=9,
    )
    runner = CliRunner()
    res = runner.invoke(
        _app(), ["analyze", "prerank_candidates", "--format", "json", "--as-of", "2026-01-21"]
    )
    assert res.exit_code == 0, res.output
    card = json.loads(res.stdout)
    assert card["experiment"] == "prerank_candidates"
    assert card["rows"][0]["metric"] == "ctr"
    assert (data_root / "scorecards" / "prerank_candidates.json").is_file()
    res = runner.invoke(
        _app(), ["analyze", "prerank_candidates", "--format", "markdown", "--segment", "platform"]
    )
    assert res.exit_code == 0, res.output
    assert "| ctr |" in res.stdout
    assert "By platform" in res.stdout
    res = runner.invoke(_app(), ["analyze", "nope_xyz"])
    assert res.exit_code == 2
    assert "experiment == 'nope_xyz'" in res.output
    res = runner.invoke(_app(), ["power", "--metric", "ctr", "--traffic", "0.1", "--days", "7"])
    assert res.exit_code == 0
    assert "MDE (relative)" in res.output
    res = runner.invoke(_app(), ["power", "--metric", "nope", "--traffic", "0.1", "--days", "7"])
    assert res.exit_code == 2
    assert "metric == 'nope'" in res.output
