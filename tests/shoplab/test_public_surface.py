"""The SDK's public surface is exactly what ``__all__`` says, and every name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import shoplab

ERRORS = {"ShoplabError", "ConfigError", "DataError", "InputError", "NotFoundError", "StateError"}
EXPECTED = {
    # the error tree (shoplab.core.errors), B
    "ConfigError",
    "DataError",
    "InputError",
    "NotFoundError",
    "ShoplabError",
    "StateError",
    "Scorecard",
    "analyze",
    "assign",
    "assign_frame",
    "data_root",
    "load_events",
    "load_experiments",
    "off_policy_evaluation",
    "power",
    "rank",
    "ranking_features",
    "simulate",
    "train_model",
    "training_labels",
    "training_set",
    "__version__",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(shoplab.__all__) == EXPECTED
    assert len(shoplab.__all__) == len(EXPECTED)  # no name listed twice


def test_all_is_exactly_the_lazy_map_plus_the_version() -> None:
    assert set(shoplab._EXPORTS) == EXPECTED - {"__version__"}


@pytest.mark.parametrize("name", sorted(EXPECTED - {"__version__"}))
def test_every_public_name_resolves(name: str) -> None:
    assert callable(getattr(shoplab, name))


@pytest.mark.parametrize("name", sorted(EXPECTED - {"__version__"}))
def test_every_public_name_is_the_object_its_module_defines(name: str) -> None:
    """The lazy map names the module that exports the name, and the facade hands out that object."""
    module = importlib.import_module(shoplab._EXPORTS[name])
    assert getattr(shoplab, name) is getattr(module, name)
    assert name in getattr(module, "__all__", ())  # the map points at a public name of a package


def test_dir_is_exactly_the_public_surface_in_a_fresh_interpreter() -> None:
    """``dir(shoplab)`` lists ``__all__`` before any name is resolved, and nothing imported early.

    In a fresh process (this one has resolved names already, which ``dir`` must not depend on):
    the lazy ``__dir__`` must return the sorted ``__all__`` without importing a defining module.
    """
    code = (
        "import sys, shoplab; "
        "print(dir(shoplab) == sorted(shoplab.__all__), "
        "'shoplab.analysis' in sys.modules, 'shoplab.features' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_dir_is_exactly_the_public_surface() -> None:
    assert dir(shoplab) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_the_error_tree_is_exported_and_rooted_at_shoplab_error(name: str) -> None:
    error = getattr(shoplab, name)
    assert isinstance(error, type)
    assert issubclass(error, shoplab.ShoplabError)
    assert issubclass(error, Exception)


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
