"""The examples in the analysis docstrings run (the pytest config does not collect doctests)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["analysis", "analysis.metrics", "analysis.stats", "analysis.sequential", "analysis.srm"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), raise_on_error=False)
    assert result.failed == 0
    assert result.attempted > 0
