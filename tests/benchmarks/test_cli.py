"""`shoplab bench` finds every area's module under the shoplab namespace (not timed here)."""

from __future__ import annotations

import pytest

from shoplab.benchmarks.cli import AREAS, area_module


@pytest.mark.parametrize("area", AREAS)
def test_every_area_resolves_to_a_module_with_run(area: str) -> None:
    module = area_module(area)
    assert module.__name__ == f"shoplab.benchmarks.{area}"
    assert callable(module.run)
