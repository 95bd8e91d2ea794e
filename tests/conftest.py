"""Shared fixtures: every test gets its own data root, so tests never see each other's files."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$SHOPLAB_DATA`` for one test."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    return root
