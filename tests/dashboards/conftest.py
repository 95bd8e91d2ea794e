"""Session dataset for the dashboard tests: one real simulation + analysis, shared by every page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboards.dataset import Dataset, shared

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"


@pytest.fixture(scope="session")
def dashboard_data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The dataset under a session-wide data root (built once, shared with the browser test)."""
    return shared(tmp_path_factory)


@pytest.fixture
def on_dashboard_data(
    dashboard_data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> Dataset:
    """Point ``$SHOPLAB_DATA`` at the shared dataset for one test."""
    monkeypatch.setenv("SHOPLAB_DATA", str(dashboard_data.root))
    return dashboard_data
