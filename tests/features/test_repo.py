"""The Feast repo itself: CLI apply/plan, data-root resolution, push source, public surface."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import shoplab.features as sf
from shoplab.core.paths import data_root
from shoplab.feature_repo.pipelines import VIEWS
from shoplab.features import repo_path
from tests.features.pushes import push_short_term, short_term_row

PROJECT = repo_path().parent
FEAST = str(Path(sys.executable).parent / "feast")


def test_public_surface() -> None:
    public = {n for n in dir(sf) if not n.startswith("_")} - {
        "errors",
        "online",
        "repo",
        "training",
        "offline_store",
        "cli",
    }
    assert set(sf.__all__) == public
    assert {"training_labels", "training_set", "ranking_features"} <= set(sf.__all__)
    # the lazy map and __all__ agree, and every name resolves to what its module defines
    assert set(sf.__all__) == set(sf._EXPORTS)
    for name, module in sf._EXPORTS.items():
        assert getattr(sf, name) is getattr(importlib.import_module(module), name), name


def test_feature_store_yaml_names_public_modules() -> None:
    """Feast loads the plug-ins by the names in the yaml: they must be public and importable."""
    yaml = (repo_path() / "feature_store.yaml").read_text()
    names = re.findall(r"^\s*(?:type|registry_store_type): (shoplab\.\S+)$", yaml, re.M)
    assert len(names) == 3, names
    for name in names:
        module, _, cls = name.rpartition(".")
        assert not any(part.startswith("_") for part in module.split(".")), name
        assert isinstance(getattr(importlib.import_module(module), cls), type), name


def test_data_root_default_is_the_projects_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """`feast` chdirs into feature_repo/; an unset $SHOPLAB_DATA must still mean ./data."""
    monkeypatch.delenv("SHOPLAB_DATA", raising=False)
    monkeypatch.chdir(PROJECT / "feature_repo")
    assert data_root() == PROJECT / "data"
    monkeypatch.setenv("SHOPLAB_DATA", "/somewhere/else")
    assert data_root() == Path("/somewhere/else")


def _feast(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """Run the real Feast CLI on the repo, output captured (not a terminal)."""
    proc = subprocess.run(
        [FEAST, "-c", "feature_repo", *args],
        cwd=PROJECT,
        env={**os.environ, "SHOPLAB_DATA": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Feast's noise stays contained: no false FileSource warnings, no colour codes in a log
    assert "Could not validate FileSource path" not in proc.stderr, proc.stderr[-2000:]
    assert "\x1b[" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    return proc


@pytest.mark.e2e
@pytest.mark.slow  # ~20 s: two Feast CLI processes
def test_feast_cli_apply_then_plan_has_no_drift(data_root: Path) -> None:
    proc = None
    for args in (["apply"], ["plan"]):
        proc = _feast(args, data_root)
    assert proc is not None
    assert "No changes to registry" in proc.stdout
    assert (data_root / "feast" / "registry.db").is_file()
    assert (data_root / "feast" / "online.db").is_file()
    assert not (PROJECT / "feature_repo" / "data").exists()


@pytest.mark.e2e
@pytest.mark.slow  # ~36 s: apply, materialize and plan through the Feast CLI
def test_feast_cli_plan_stays_clean_after_materialize(use_built: Path, tmp_path: Path) -> None:
    """Materializing records intervals in the registry: state, not a change of definitions."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(use_built / "features", root / "features")
    _feast(["apply"], root)
    assert "No changes to registry" in _feast(["plan"], root).stdout
    mat = _feast(["materialize", "2026-01-03T00:00:00", "2026-01-04T12:00:00"], root)
    assert f"Materializing {len(VIEWS)} feature views" in mat.stdout
    plan = _feast(["plan"], root)
    assert "No changes to registry" in plan.stdout, plan.stdout[-3000:]
    assert "Updated" not in plan.stdout


def test_push_source_updates_online_features(use_built: Path) -> None:
    """A pushed short-term row is served at once, fresher than the hourly batch."""
    t = datetime(2026, 1, 4, 12, 30, tzinfo=UTC)
    sf.materialize(t - timedelta(minutes=30))
    before = sf.ranking_features(5, [1], "ranker_v2", as_of=t)["user_short_term__clicks_1h"]
    push_short_term(short_term_row(5, t))
    after = sf.ranking_features(5, [1], "ranker_v2", as_of=t)
    assert after["user_short_term__clicks_1h"].to_list() == [41] != before.to_list()
    assert after["user_short_term__last_clicked_category"].to_list() == ["toys"]


def test_materialize_without_tables_is_named(
    use_oracle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "empty"
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    sf.apply_repo()
    with pytest.raises(sf.FeatureTableMissingError, match="shoplab features build"):
        sf.materialize(datetime(2026, 1, 2, tzinfo=UTC))
    labels = pl.DataFrame({"user_id": [1], "event_timestamp": [datetime(2026, 1, 2, tzinfo=UTC)]})
    with pytest.raises(sf.FeatureTableMissingError, match="user_long_term"):
        sf.training_set(labels, features=["user_long_term:ctr_7d"])


def test_materialize_before_apply_is_named_and_creates_nothing(data_root: Path) -> None:
    from shoplab.core.errors import StateError

    with pytest.raises(StateError, match="shoplab features apply"):
        sf.materialize(datetime(2026, 1, 2, tzinfo=UTC))
    assert not (data_root / "feast").exists()
