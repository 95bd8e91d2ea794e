"""The one data-root rule: $SHOPLAB_DATA, else ./data, except inside a Feast repo folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoplab.core import paths


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("SHOPLAB_DATA", raising=False)
    return monkeypatch


def test_the_environment_wins_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPLAB_DATA", "rel/root")
    assert paths.data_root() == tmp_path.resolve() / "rel" / "root"
    monkeypatch.setenv("SHOPLAB_DATA", str(tmp_path / "abs"))
    assert paths.data_root() == tmp_path / "abs"


def test_unset_means_data_of_the_working_directory(
    no_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_env.chdir(tmp_path)
    assert paths.data_root() == tmp_path.resolve() / "data"


def test_inside_a_feast_repo_folder_it_is_the_data_beside_the_repo(
    no_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`feast -c feature_repo apply` changes into the repo: ./data of the project still holds."""
    repo = tmp_path / "feature_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: x\n")
    no_env.chdir(repo)
    assert paths.data_root() == tmp_path.resolve() / "data"
    (repo / "feature_store.yaml").unlink()  # a folder without the yaml is not a repo
    assert paths.data_root() == repo.resolve() / "data"


def test_the_folders_hang_off_the_root(data_root: Path) -> None:
    assert paths.events_dir("clicks") == data_root / "events" / "clicks"
    assert paths.exposures_dir() == data_root / "events" / "exposures"
    assert paths.quarantine_dir("orders") == data_root / "quarantine" / "orders"
    assert paths.feature_tables_dir("item_stats") == data_root / "features" / "item_stats"
    assert paths.feast_dir() == data_root / "feast"
    assert paths.scorecards_dir() == data_root / "scorecards"


def test_under_data_root_keeps_absolute_paths(data_root: Path, tmp_path: Path) -> None:
    assert paths.under_data_root("feast/online.db") == data_root / "feast" / "online.db"
    assert paths.under_data_root(tmp_path / "x.db") == tmp_path / "x.db"


def test_using_data_root_pins_and_restores(
    no_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_env.chdir(tmp_path)
    with paths.using_data_root("elsewhere") as root:
        assert root == tmp_path.resolve() / "elsewhere"
        assert os.environ["SHOPLAB_DATA"] == str(root)
        os.chdir("/")  # a callee that changes directory still sees the same root
        assert paths.data_root() == root
    assert "SHOPLAB_DATA" not in os.environ
    no_env.setenv("SHOPLAB_DATA", str(tmp_path / "before"))
    with pytest.raises(RuntimeError), paths.using_data_root(tmp_path / "during"):
        raise RuntimeError("boom")
    assert os.environ["SHOPLAB_DATA"] == str(tmp_path / "before")
