"""Collection rules for the whole suite: ``tests/`` plus every docstring example under ``shoplab/``.

``pyproject.toml`` runs ``--doctest-modules`` over ``testpaths = ["tests", "shoplab"]``. This file
sits at the repo root because only a conftest above ``shoplab/`` can steer how that folder is
collected (a ``--ignore`` in ``addopts`` would be relative to wherever pytest was started). Three
rules keep each module collected exactly once and nothing executed that must not be:

- the design card's top-level folders (``analysis/``, ``experiments/``, ...) are the same files
  as ``shoplab/<name>`` (symlinks); they are collected there, under their installed name;
- the Feast repo's definition modules (``feature_repo/*.py`` but ``__init__.py``) import each other
  as top-level modules (Feast puts the folder on ``sys.path``); ``feast apply`` checks them;
- ``dashboards/app_pages/*.py`` are Streamlit scripts: importing one renders the page.

Every doctest runs on its own fresh ``$SHOPLAB_DATA``, restored afterwards, so an example that
writes data (or sets the variable itself) never leaks into the tests that follow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# `shoplab.<name>` lives at the top of the repo (design card), seen as shoplab/<name> by a symlink
TOP_LEVEL = frozenset(
    ROOT / name for name in ("analysis", "experiments", "dashboards", "benchmarks", "feature_repo")
)
FEAST_DEFINITIONS = frozenset({ROOT / "shoplab" / "feature_repo", ROOT / "feature_repo"})
STREAMLIT_PAGES = frozenset({ROOT / "shoplab" / "dashboards" / "app_pages"})


def not_collected(path: Path) -> bool:
    """Whether ``path`` is one of the top-level duplicates, Feast definitions or Streamlit pages."""
    if path in TOP_LEVEL or path in STREAMLIT_PAGES:
        return True
    return path.parent in FEAST_DEFINITIONS and path.suffix == ".py" and path.name != "__init__.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave out what :func:`not_collected` names; pytest decides for everything else."""
    return True if not_collected(collection_path) else None


@pytest.fixture(autouse=True)
def _doctest_data_root(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A fresh ``$SHOPLAB_DATA`` for every docstring example (tests ask for ``data_root``)."""
    if not isinstance(request.node, pytest.DoctestItem):
        return
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("SHOPLAB_DATA", str(tmp_path_factory.mktemp("doctest") / "data"))
