"""Training on the real feature store, registered in a real MLflow SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

import shoplab.features as sf
from shoplab.core.errors import InputError
from shoplab.features.errors import UnknownServiceError
from shoplab.models.loaded import load
from shoplab.models.registry import get_version, local_paths, tracking_uri
from shoplab.models.train import ID_FEATURES, data_version, train_model
from tests.models.conftest import TRAIN, VALID, World


def test_registry_is_sqlite_under_the_data_root(use_world: World) -> None:
    db, artifacts = local_paths()
    assert db == use_world.root / "mlflow" / "mlflow.db"
    assert db.is_file()
    assert tracking_uri() == f"sqlite:///{db}"
    assert any(artifacts.rglob("python_model.pkl"))


@pytest.mark.parametrize("algo", ["logreg", "lightgbm"])
def test_tags_declare_the_exact_feature_list_and_dtypes(use_world: World, algo: str) -> None:
    trained = getattr(use_world, algo)
    info = get_version(trained.version.ref)
    labels = sf.training_labels(*TRAIN)
    frame = sf.training_set(labels, "ranker_v2")
    service_columns = [c for c in frame.columns if c not in sf.LABEL_COLUMNS]
    inputs = ["position", *(c for c in service_columns if c not in ID_FEATURES)]
    tags = info.tags
    assert json.loads(tags["shoplab.features"]) == inputs
    assert json.loads(tags["shoplab.service_features"]) == service_columns
    assert json.loads(tags["shoplab.feature_dtypes"]) == {c: str(frame.schema[c]) for c in inputs}
    assert tags["shoplab.service"] == "ranker_v2"
    assert tags["shoplab.algo"] == algo
    assert tags["shoplab.train_start"] == "2026-01-02T00:00:00+00:00"
    assert tags["shoplab.valid_end"] == "2026-01-06T00:00:00+00:00"
    assert tags["shoplab.train_rows"] == str(labels.height)
    views = sorted({c.split("__")[0] for c in service_columns})
    assert tags["shoplab.data_version"] == data_version(views)[0] != "unknown"
    assert set(json.loads(tags["shoplab.library_versions"])) == {
        "mlflow", "lightgbm", "scikit-learn", "polars"
    }
    assert info.spec is not None
    assert list(info.spec.features) == inputs
    # the loaded artifact carries the same spec as the tags
    assert load(info).spec == info.spec


@pytest.mark.parametrize("algo", ["logreg", "lightgbm"])
def test_recorded_metrics_equal_sklearn_on_the_validation_window(
    use_world: World, algo: str
) -> None:
    trained = getattr(use_world, algo)
    model = load(get_version(trained.version.ref))
    valid = sf.training_set(sf.training_labels(*VALID), "ranker_v2")
    y = valid["clicked"].cast(pl.Int8).to_numpy()
    served = model.score(valid)  # every row at position 1, as serving scores
    logged = model.ranker.score(valid, position=None)  # type: ignore[union-attr]
    recorded = get_version(trained.version.ref).metrics
    assert recorded["rows"] == valid.height
    assert recorded["positives"] == y.sum()
    assert recorded["auc"] == pytest.approx(roc_auc_score(y, served), abs=1e-9)
    assert recorded["log_loss"] == pytest.approx(sk_log_loss(y, logged), abs=1e-9)
    assert trained.metrics.auc == pytest.approx(recorded["auc"])
    # a model trained on features beats chance on the later window, by a margin
    assert recorded["auc"] > 0.55
    assert recorded["gauc"] > 0.55
    cal = trained.metrics.calibration
    assert sum(b.n for b in cal) == valid.height
    assert sum(b.n * b.observed for b in cal) == pytest.approx(y.sum())


def test_position_is_a_training_feature_fixed_at_serving(use_world: World) -> None:
    model = load(get_version(use_world.logreg.version.ref)).ranker
    assert model is not None
    assert model.spec.features[0] == "position"
    valid = sf.training_set(sf.training_labels(*VALID), "ranker_v2").head(200)
    at_top = model.score(valid)
    assert np.array_equal(at_top, model.score(valid.with_columns(position=pl.lit(7))))
    logged = model.score(valid, position=None)
    # the model learned that lower slots are clicked less: P at slot 1 >= P as logged
    assert np.mean(at_top) > np.mean(logged)


def test_cvr_target_trains_on_clicked_impressions(use_world: World) -> None:
    trained = train_model("cvr_logreg", "ranker_v1", "logreg", TRAIN, VALID, target="order")
    clicked = sf.training_labels(*TRAIN).filter(pl.col("clicked"))
    valid_clicked = sf.training_labels(*VALID).filter(pl.col("clicked"))
    assert trained.train_rows == clicked.height
    assert trained.metrics.rows == valid_clicked.height
    assert trained.metrics.positives == valid_clicked["ordered"].sum()
    assert trained.version.tags["shoplab.target"] == "order"
    assert trained.spec.service == "ranker_v1"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"algo": "xgboost"}, InputError, "algo == 'xgboost', must be one of"),
        ({"target": "gmv"}, InputError, "target == 'gmv', must be one of"),
        ({"valid": ("2026-01-03", "2026-01-05")}, InputError, "valid.start == 2026-01-03"),
        ({"train": ("2026-01-04", "2026-01-02")}, InputError, "train.end == 2026-01-02"),
        ({"service": "ranker_v9"}, UnknownServiceError, "ranker_v9"),
        ({"name": "bad/name"}, InputError, "name == 'bad/name'"),
    ],
)
def test_bad_arguments_name_field_value_and_rule(
    use_world: World, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    args: dict[str, object] = {
        "name": "never_registered", "service": "ranker_v2", "algo": "logreg",
        "train": TRAIN, "valid": VALID,
    }
    with pytest.raises(error, match=message.replace("(", r"\(")):
        train_model(**{**args, **kwargs})  # type: ignore[arg-type]
    assert "never_registered" not in {v.name for v in _versions()}


def _versions() -> list[object]:
    from shoplab.models.registry import list_versions

    return list_versions()  # type: ignore[return-value]


def test_the_mlflow_uri_setting_points_elsewhere(
    use_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shoplab.models.registry import list_versions

    other = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("SHOPLAB_MLFLOW_URI", other)
    assert tracking_uri() == other
    assert list_versions() == []  # a fresh store: none of the world's models
    assert (tmp_path / "elsewhere.db").is_file()


def test_popularity_ranker_reads_only_item_popularity(use_world: World) -> None:
    """``algo="popularity"``: position + the item volumes; equal to scikit-learn's own fit of
    the same standardized matrix; two users asking about the same item get the same score."""
    from sklearn.linear_model import LogisticRegression

    from shoplab.models.train import LOGREG_C, POPULARITY_FEATURES

    trained = train_model("ctr_popularity", "ranker_v2", "popularity", TRAIN, VALID)
    assert trained.spec.features == ("position", *POPULARITY_FEATURES)
    info = get_version(trained.version.ref)
    assert json.loads(info.tags["shoplab.features"]) == ["position", *POPULARITY_FEATURES]
    assert info.tags["shoplab.algo"] == "popularity"
    ranker = load(info).ranker
    assert ranker is not None
    frame = sf.training_set(sf.training_labels(*TRAIN), "ranker_v2")
    x = ranker.encoder.matrix(frame)
    y = frame["clicked"].cast(pl.Int8).to_numpy()
    want = LogisticRegression(C=LOGREG_C, max_iter=2000).fit(x, y).predict_proba(x)[:, 1]
    np.testing.assert_allclose(ranker.score(frame, position=None), want, rtol=1e-6, atol=1e-9)
    served = frame.with_columns(score=pl.Series(ranker.score(frame)))
    per_item = served.group_by([*POPULARITY_FEATURES]).agg(pl.col("score").n_unique().alias("n"))
    assert per_item["n"].max() == 1  # the user's features change nothing
    assert 0.0 < trained.metrics.gauc < 1.0  # computed (a weak model, not a broken one)


def test_popularity_needs_the_item_features(use_world: World) -> None:
    from shoplab.models.train import feature_spec

    frame = pl.DataFrame({"position": [1], "clicked": [True], "user_long_term__x": [1.0]})
    with pytest.raises(InputError, match="lacks .*item_stats__item_impressions_1d"):
        feature_spec(frame, "ranker_v1x", ["clicked", "position"], "click", "popularity")
