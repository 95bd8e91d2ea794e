"""The SDK's public surface is exactly what ``__all__`` says, and every name resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import shoplab

EXPECTED = {
    "Scorecard",
    "analyze",
    "assign",
    "assign_frame",
    "data_root",
    "load_events",
    "load_experiments",
    "power",
    "ranking_features",
    "simulate",
    "training_labels",
    "training_set",
    "__version__",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(shoplab.__all__) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED - {"__version__"}))
def test_every_public_name_resolves(name: str) -> None:
    assert callable(getattr(shoplab, name))


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = shoplab.nope  # type: ignore[attr-defined]


def test_import_does_not_pull_in_feast_or_streamlit() -> None:
    """Per-request assignment and the CLI must not pay Feast's or Streamlit's import cost."""
    code = (
        "import sys, shoplab, shoplab.cli; "
        "print(sorted(m for m in ('feast','streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
