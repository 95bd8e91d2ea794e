"""Fixtures for the analysis tests: one synthetic event log per session.

The log is written once with ``benchmarks.analysis.synthesize_event_log`` (NumPy,
schema-conforming Parquet) and each test that uses it points ``$SHOPLAB_DATA`` at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoplab.benchmarks.analysis import synthesize_event_log


@pytest.fixture(scope="session")
def synthetic_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k users, 14 days + 7 pre-period days, CTR lifted 10 % in treatment (≈ 1 s to write)."""
    root = tmp_path_factory.mktemp("analysis-log")
    synthesize_event_log(root, users=20_000, click_mult=1.10, seed=11)
    return root


@pytest.fixture
def use_log(synthetic_log: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ``$SHOPLAB_DATA`` at the shared synthetic log (read-only for tests)."""
    monkeypatch.setenv("SHOPLAB_DATA", str(synthetic_log))
    return synthetic_log
