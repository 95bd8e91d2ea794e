"""One small world for the models tests: events, features, the Feast repo applied and
materialized, and an MLflow SQLite registry under the data root holding two trained rankers.

Built once per package (~10 s on 2 cores): 200 users x 120 items x 5 days
(``tests.eventlog.write_events``, the feature tests' world), trained on days 2-3, validated on
days 4-5, materialized through the end of day 5 (:data:`T`: the serving time of every test).
Tests that change the registry add their own model names, so the shared versions stay as built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

import shoplab.features as sf
from shoplab.core.paths import using_data_root
from shoplab.models.loaded import clear_cache
from shoplab.models.train import TrainedModel, train_model
from tests.eventlog import write_events
from tests.experiments.conftest import write_configs  # noqa: F401  (a fixture, used by name)

T = datetime(2026, 1, 6, tzinfo=UTC)
TRAIN = ("2026-01-02", "2026-01-04")
VALID = ("2026-01-04", "2026-01-06")


@dataclass(frozen=True)
class World:
    """The built data root and the two rankers registered in it."""

    root: Path
    logreg: TrainedModel
    lightgbm: TrainedModel


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("models") / "data"
    root.mkdir()
    with using_data_root(root):
        write_events(users=200, items=120, days=5, seed=7)
        sf.build_features()
        sf.apply_repo()
        sf.materialize(T)
        logreg = train_model("ctr_logreg", "ranker_v2", "logreg", TRAIN, VALID)
        lightgbm = train_model("ctr_lgbm", "ranker_v2", "lightgbm", TRAIN, VALID)
    return World(root, logreg, lightgbm)


@pytest.fixture
def use_world(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Point this test at the world's data root, with no model cached from another test."""
    monkeypatch.setenv("SHOPLAB_DATA", str(world.root))
    monkeypatch.delenv("SHOPLAB_MLFLOW_URI", raising=False)
    clear_cache()
    yield world
    clear_cache()
