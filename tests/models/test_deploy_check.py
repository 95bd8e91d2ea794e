"""``shoplab experiments validate`` with model params: version, service, skew, file/field/rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplab.cli import app
from shoplab.experiments.errors import Problem
from shoplab.experiments.validation import SKIPPED_MODELS, validate
from shoplab.models.deploy_check import check_variant_params
from shoplab.models.loaded import load
from shoplab.models.registry import get_version, register
from shoplab.simulator.params import PARAM_BOUNDS
from tests.experiments.conftest import CATALOG, WriteConfigs, experiment_doc
from tests.models.conftest import World


def _configs(write_configs: WriteConfigs, layer: str = "rank", **params: object) -> Path:
    doc = experiment_doc(
        "rank_models",
        layer=layer,
        variants=[
            {"key": "control", "weight": 0.5, "params": {"rank_w_quality": 1.0}},
            {"key": "treatment", "weight": 0.5, "params": dict(params)},
        ],
    )
    return write_configs(doc)


def _problems(root: Path) -> list[Problem]:
    report = validate(
        root, metrics=CATALOG, param_bounds=PARAM_BOUNDS, param_checker=check_variant_params,
        lock_path=root / "lock.json", write_lock=False,
    )
    assert report.skipped == ()
    return list(report.problems)


def _register_with_spec(world: World, name: str, **changes: object) -> str:
    ranker = load(get_version(world.logreg.version.ref)).ranker
    assert ranker is not None
    return register(name, ranker, dataclasses.replace(ranker.spec, **changes)).ref


def test_a_registered_version_and_alias_on_their_service_pass(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref = use_world.lightgbm.version.ref
    assert _problems(_configs(write_configs, model=ref, feature_service="ranker_v2")) == []
    from shoplab.models.registry import set_alias

    set_alias("ctr_logreg", 1, "champion")
    assert _problems(_configs(write_configs, model="ctr_logreg@champion")) == []


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"model": "ctr_logreg/99"}, "model", "no version 99, must be one of [1]"),
        ({"model": "ctr_logreg@nope"}, "model", "no alias 'nope'"),
        ({"model": "ghost/1"}, "model", "no registered model 'ghost'"),
        ({"model": "ctr_logreg"}, "model", "must name a version or an alias"),
        ({"model": "ctr logreg/1"}, "model", "must be NAME/VERSION or NAME@ALIAS"),
        (
            {"model": "ctr_logreg/1", "feature_service": "ranker_v1"},
            "feature_service",
            "must equal model ctr_logreg/1's feature service 'ranker_v2'",
        ),
        ({"feature_service": "ranker_v9"}, "feature_service", "must be a feature service"),
    ],
)
def test_bad_model_params_name_file_field_value_and_rule(
    use_world: World, write_configs: WriteConfigs, params: dict[str, object], field: str,
    rule: str,
) -> None:
    problems = _problems(_configs(write_configs, **params))
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.file, p.field, p.value) == (
        "rank_models.yaml", f"variants[1].params.{field}", params[field]
    )
    assert rule in p.rule


def test_a_model_whose_service_is_missing_from_the_feast_registry(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref = _register_with_spec(use_world, "on_missing_service", service="ranker_v9")
    [p] = _problems(_configs(write_configs, model=ref))
    assert p.field == "variants[1].params.model"
    assert p.value == ref
    assert "its feature service 'ranker_v9' must exist in the Feast registry" in p.rule


def test_a_feature_list_that_no_longer_matches_the_service_is_skew(
    use_world: World, write_configs: WriteConfigs
) -> None:
    trained = use_world.logreg.spec.service_features
    stale = (*trained[1:], "user_long_term__retired_feature")
    ref = _register_with_spec(use_world, "skewed", service_features=stale)
    [p] = _problems(_configs(write_configs, model=ref))
    assert p.value == ref
    assert f"today it lacks ['user_long_term__retired_feature'] and adds ['{trained[0]}']" in p.rule
    assert "training/serving skew" in p.rule


def test_a_model_outside_the_rank_layer_is_refused(
    use_world: World, write_configs: WriteConfigs
) -> None:
    [p] = _problems(_configs(write_configs, layer="mix", model=use_world.logreg.version.ref))
    assert "must be set in the rank layer only (layer == 'mix')" in p.rule


def test_without_the_checker_a_model_param_is_reported_as_not_checked(
    use_world: World, write_configs: WriteConfigs
) -> None:
    root = _configs(write_configs, model="ghost/1")
    report = validate(root, metrics=CATALOG, param_bounds=PARAM_BOUNDS,
                      lock_path=root / "lock.json", write_lock=False)
    assert report.ok
    assert report.skipped == (SKIPPED_MODELS,)


def test_the_cli_validate_runs_the_model_check(
    use_world: World, write_configs: WriteConfigs
) -> None:
    root = _configs(write_configs, model="ctr_logreg/99")
    result = CliRunner().invoke(
        app, ["experiments", "validate", "--dir", str(root), "--no-lock"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1, result.output
    assert (
        "rank_models.yaml: variants[1].params.model == 'ctr_logreg/99': must name a registered "
        "model version"
    ) in result.output


def test_the_shipped_configs_still_validate(use_world: World) -> None:
    """Their ``feature_service`` params name services of the applied registry."""
    result = CliRunner().invoke(app, ["experiments", "validate", "--no-lock"])
    assert result.exit_code == 0, result.output


def _corrupt(world: World, name: str) -> str:
    """A new version of the logreg ranker under ``name`` whose pickle is then overwritten."""
    ref = _register_with_spec(world, name)
    model_id = get_version(ref).source.removeprefix("models:/")
    [pickle] = [p for p in (world.root / "mlflow").rglob("python_model.pkl") if model_id in str(p)]
    pickle.write_bytes(b"not a pickle")
    return ref


def test_a_corrupt_artifact_fails_validation(
    use_world: World, write_configs: WriteConfigs
) -> None:
    ref = _corrupt(use_world, "corrupt_at_validate")
    [p] = _problems(_configs(write_configs, model=ref))
    assert (p.field, p.value) == ("variants[1].params.model", ref)
    assert "must be a loadable model version" in p.rule
    assert f"model {ref}" in p.rule
    assert "cannot be loaded" in p.rule


def test_an_unreachable_mlflow_uri_fails_validation(
    use_world: World, write_configs: WriteConfigs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_MLFLOW_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    [p] = _problems(_configs(write_configs, model="ctr_logreg/1"))
    assert (p.field, p.value) == ("variants[1].params.model", "ctr_logreg/1")
    assert "must name a registered model version" in p.rule
    assert "MLflow URI == 'http://127.0.0.1:9'" in p.rule
