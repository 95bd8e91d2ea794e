"""``rank``: assignment -> the variant's model -> online features -> order; fallbacks counted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import shoplab.features as sf
from shoplab.experiments import assign
from shoplab.features.errors import RankingRequestError
from shoplab.models.fallbacks import fallback_counts
from shoplab.models.loaded import clear_cache, load
from shoplab.models.ranker import FeatureSpec
from shoplab.models.registry import get_version, mlflow_client, register
from shoplab.models.serve import rank
from tests.experiments.conftest import WriteConfigs, experiment_doc
from tests.models.conftest import T, World

ITEMS = list(range(1, 121))


def _expected_order(
    ref: str, user: int, items: list[int], at: datetime = T
) -> tuple[list[int], np.ndarray]:
    """Sort by the model's own predict on ranking_features' output (position 1)."""
    model = load(get_version(ref))
    frame = sf.ranking_features(user, items, model.spec.service, {"query": None}, as_of=at)
    pdf = frame.select(
        pl.col(c) if frame.schema[c] == pl.String else pl.col(c).cast(pl.Float64)
        for c in model.spec.features if c != "position"
    ).to_pandas()
    scores = np.asarray(model.pyfunc.predict(pdf), dtype=np.float64)  # MLflow's own entry point
    order = np.argsort(-scores, kind="stable")
    return [items[i] for i in order], scores[order]


@pytest.mark.parametrize("algo", ["logreg", "lightgbm"])
def test_rank_order_is_the_models_own_predict_sorted(use_world: World, algo: str) -> None:
    ref = getattr(use_world, algo).version.ref
    for user in (5, 77, 150):
        got = rank(user, ITEMS, {"query": None}, T, model=ref)
        items, scores = _expected_order(ref, user, ITEMS)
        assert got["item_id"].to_list() == items
        np.testing.assert_allclose(got["score"].to_numpy(), scores, rtol=1e-12)
        assert got["rank"].to_list() == list(range(1, len(ITEMS) + 1))
        assert set(got["model_version"]) == {ref}
        assert got["fallback"].null_count() == len(ITEMS)


def _experiment(write_configs: WriteConfigs, control: str, treatment: str) -> Path:
    doc = experiment_doc(
        "rank_models",
        buckets=[0, 10_000],
        variants=[
            {"key": "control", "weight": 0.5, "params": {"model": control}},
            {"key": "challenger", "weight": 0.5, "params": {"model": treatment}},
        ],
    )
    return write_configs(doc)


def _users_by_variant(configs: Path, at: datetime) -> dict[str, int]:
    out: dict[str, int] = {}
    for user in range(1, 200):
        variant = assign(user, experiments=configs, at=at)["rank"].variant
        if variant is not None:
            out.setdefault(variant, user)
    return out


AT = datetime.fromisoformat("2026-01-08T12:00:00+00:00")  # the experiment runs from 01-08


def _fallbacks(model: str) -> int:
    return sum(c.count for c in fallback_counts() if c.model == model)


def test_assignment_picks_the_variants_model(
    use_world: World, write_configs: WriteConfigs
) -> None:
    control, challenger = use_world.logreg.version.ref, use_world.lightgbm.version.ref
    configs = _experiment(write_configs, control, "ctr_lgbm@challenger")
    with mlflow_client() as client:
        client.set_registered_model_alias("ctr_lgbm", "challenger", "1")
    users = _users_by_variant(configs, AT)
    for variant, ref in (("control", control), ("challenger", challenger)):
        got = rank(users[variant], ITEMS, None, AT, experiments=configs)
        assert set(got["experiment"]) == {"rank_models"}
        assert set(got["variant"]) == {variant}
        assert set(got["model_version"]) == {ref}
        assert got["fallback"].null_count() == got.height


def _register_spare(use_world: World, name: str) -> str:
    """A second registration of the lightgbm ranker under ``name`` (tests may break it)."""
    model = load(get_version(use_world.lightgbm.version.ref))
    return register(name, model.ranker, model.spec).ref


def test_a_deleted_version_falls_back_to_control_and_is_counted(
    use_world: World, write_configs: WriteConfigs
) -> None:
    spare = _register_spare(use_world, "spare_deleted")
    configs = _experiment(write_configs, use_world.logreg.version.ref, spare)
    user = _users_by_variant(configs, AT)["challenger"]
    assert set(rank(user, ITEMS, None, AT, experiments=configs)["model_version"]) == {spare}
    with mlflow_client() as client:
        client.delete_model_version("spare_deleted", "1")
    clear_cache()  # a deleted version is seen once the resolved reference expires (10 s)
    before = _fallbacks(spare)
    got = rank(user, ITEMS, None, AT, experiments=configs)
    assert set(got["fallback"]) == {"not_found"}
    assert set(got["model_version"]) == {use_world.logreg.version.ref}  # the control ranker
    expected, _ = _expected_order(use_world.logreg.version.ref, user, ITEMS, AT)
    assert got["item_id"].to_list() == expected
    assert _fallbacks(spare) == before + 1
    rank(user, ITEMS, None, AT, experiments=configs)
    assert _fallbacks(spare) == before + 2  # every fallback, not once


def test_a_corrupt_artifact_falls_back_and_is_counted(
    use_world: World, write_configs: WriteConfigs
) -> None:
    spare = _register_spare(use_world, "spare_corrupt")
    info = get_version(spare)
    model_id = info.source.removeprefix("models:/")
    found = (use_world.root / "mlflow").rglob("python_model.pkl")
    pickles = [p for p in found if model_id in str(p)]
    assert len(pickles) == 1
    pickles[0].write_bytes(b"not a pickle")
    configs = _experiment(write_configs, use_world.logreg.version.ref, spare)
    user = _users_by_variant(configs, AT)["challenger"]
    got = rank(user, ITEMS, None, AT, experiments=configs)
    assert set(got["fallback"]) == {"load_error"}
    assert set(got["model_version"]) == {use_world.logreg.version.ref}
    counts = [c for c in fallback_counts() if c.model == spare]
    assert [(c.experiment, c.variant, c.reason, c.count) for c in counts] == [
        ("rank_models", "challenger", "load_error", 1)
    ]
    assert "cannot be loaded" in counts[0].last_message


def test_control_failing_too_keeps_the_incoming_order(
    use_world: World, write_configs: WriteConfigs
) -> None:
    configs = _experiment(write_configs, "ghost/1", "ghost/2")
    users = _users_by_variant(configs, AT)
    got = rank(users["challenger"], ITEMS, None, AT, experiments=configs)
    assert got["item_id"].to_list() == ITEMS
    assert got["score"].null_count() == len(ITEMS)
    assert set(got["fallback"]) == {"not_found"}
    assert _fallbacks("ghost/2") == 1
    assert _fallbacks("ghost/1") == 1


def test_any_pyfunc_with_declared_features_serves(use_world: World) -> None:
    import mlflow.pyfunc

    class PriceModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """Any pyfunc: scores by price; its inputs declared through the version's tags."""

        _skip_type_hint_validation = True

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input["item_stats__price"].fillna(0.0).to_numpy()

    spec = FeatureSpec(
        service="ranker_v1",
        features=("item_stats__price",),
        dtypes=(("item_stats__price", "Float64"),),
        service_features=tuple(use_world.logreg.spec.service_features),
    )
    ref = register("by_price", PriceModel(), spec).ref
    got = rank(5, ITEMS, None, T, model=ref)
    price = sf.ranking_features(5, ITEMS, "ranker_v1", as_of=T).select(
        "item_id", pl.col("item_stats__price").fill_null(0.0)
    )
    expected = price.sort("item_stats__price", descending=True, maintain_order=True)
    assert got["item_id"].to_list() == expected["item_id"].to_list()
    assert set(got["model_version"]) == {ref}


@pytest.mark.parametrize(
    ("user", "items"), [("5", ITEMS), (True, ITEMS), (5, []), (5, ["a", "b"])]
)
def test_bad_requests_raise_and_are_not_fallbacks(
    use_world: World, user: object, items: list[object]
) -> None:
    before = len(fallback_counts())
    with pytest.raises(RankingRequestError):
        rank(user, items, None, T, model=use_world.logreg.version.ref)  # type: ignore[arg-type]
    assert len(fallback_counts()) == before


def test_an_unreachable_registry_is_a_counted_fallback(
    use_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_MLFLOW_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    got = rank(5, ITEMS, None, T, model="ctr_logreg/1")
    assert set(got["fallback"]) == {"registry_unavailable"}
    assert got["item_id"].to_list() == ITEMS
    [count] = [c for c in fallback_counts() if c.reason == "registry_unavailable"]
    assert count.model == "ctr_logreg/1"
    assert "MLflow URI == 'http://127.0.0.1:9'" in count.last_message


def _register_declaring(use_world: World, name: str, **changes: object) -> str:
    """The logreg ranker's pickle registered with a changed spec (serving reads the pickle's)."""
    import dataclasses

    model = load(get_version(use_world.logreg.version.ref))
    assert model.ranker is not None
    model.ranker.spec = dataclasses.replace(model.ranker.spec, **changes)
    try:
        return register(name, model.ranker, model.ranker.spec).ref
    finally:
        clear_cache()  # the cached ranker object must not keep the changed spec


@pytest.mark.parametrize(
    ("changes", "reason", "why"),
    [
        ({"features": ("position", "user_long_term__retired_feature")}, "load_error",
         "training/serving skew"),
        ({"service": "ranker_v9"}, "features", "ranker_v9"),
    ],
    ids=["feature-list-no-longer-served", "service-missing-from-registry"],
)
def test_a_model_the_service_cannot_feed_falls_back_and_the_cli_says_why(
    use_world: World, changes: dict[str, object], reason: str, why: str
) -> None:
    from typer.testing import CliRunner

    from shoplab.cli import app

    ref = _register_declaring(use_world, f"unservable_{reason}", **changes)
    got = rank(5, ITEMS, None, T, model=ref)
    assert set(got["fallback"]) == {reason}
    assert got["item_id"].to_list() == ITEMS  # no control outside an experiment: incoming order
    [count] = [c for c in fallback_counts() if c.model == ref]
    assert (count.reason, count.count) == (reason, 1)
    assert why in count.last_message
    result = CliRunner().invoke(
        app, ["rank", "5", "1", "2", "3", "--model", ref, "--at", T.isoformat()],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    assert f"fallback: {reason}" in result.output
    assert f"why: model {ref}: " in result.output
    assert why in result.output
