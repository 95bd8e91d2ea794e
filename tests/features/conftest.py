"""Shared Feast repos for the feature-store tests (applied once per package: apply takes ~1.5 s).

``built_root``: a synthetic event log, its feature tables, the repo applied.
``oracle_root``: the repo applied over an empty data root; tests write feature tables directly.
Each test then points ``$SHOPLAB_DATA`` at the root it uses (function-scoped monkeypatch), so no
environment leaks to other areas' tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import shoplab.features as sf
from tests.eventlog import write_events


def _with_root(root: Path) -> Iterator[None]:
    old = os.environ.get("SHOPLAB_DATA")
    os.environ["SHOPLAB_DATA"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = old


@pytest.fixture(scope="package")
def built_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic events (200 users, 120 items, 5 days), built features, applied repo."""
    root = tmp_path_factory.mktemp("built") / "data"
    root.mkdir()
    gen = _with_root(root)
    next(gen)
    try:
        write_events(users=200, items=120, days=5, seed=7)
        sf.build_features()
        sf.apply_repo()
    finally:
        next(gen, None)
    return root


@pytest.fixture(scope="package")
def oracle_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An applied repo whose feature tables each test writes itself."""
    root = tmp_path_factory.mktemp("oracle") / "data"
    root.mkdir()
    gen = _with_root(root)
    next(gen)
    try:
        sf.apply_repo()
    finally:
        next(gen, None)
    return root


@pytest.fixture
def use_built(built_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point this test at ``built_root``."""
    monkeypatch.setenv("SHOPLAB_DATA", str(built_root))
    return built_root


@pytest.fixture
def use_oracle(oracle_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point this test at ``oracle_root``."""
    monkeypatch.setenv("SHOPLAB_DATA", str(oracle_root))
    return oracle_root
