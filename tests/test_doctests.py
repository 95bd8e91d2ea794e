"""Every docstring example under ``shoplab/`` is collected by ``--doctest-modules``, once.

The examples themselves run as pytest items (``pyproject.toml``: ``testpaths = ["tests",
"shoplab"]``, ``--doctest-modules``; the root ``conftest.py`` leaves out Feast definitions and
Streamlit pages). This module checks that collection: a docstring example that silently stops
being collected (a new ignore rule, a module that no longer imports, a package moved out of
``shoplab/``) would otherwise turn green by not running. It replaces the hand-kept
``doctest.testmod`` lists the packages used to carry.
"""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, not_collected

# ~20 s: a second pytest collection in a subprocess; the examples themselves run in make test
pytestmark = pytest.mark.slow

# Docstrings with examples per package (shoplab/<package>/...), as collected on 2026-12-02. A
# floor, not an exact count: adding examples never fails this test, losing one does (an example
# moved to another package moves its count here too).
MIN_DOCSTRINGS = {
    "analysis": 18,
    "audit": 2,
    "core": 12,
    "events": 1,
    "experiments": 11,
    "feature_repo": 3,
    "features": 4,
    "simulator": 3,
}

# The modules the retired lists ran, with the examples each had to attempt (>= n).
FORMERLY_LISTED = {
    "shoplab.analysis": 1,
    "shoplab.analysis.metrics": 1,
    "shoplab.analysis.stats": 1,
    "shoplab.analysis.sequential": 1,
    "shoplab.analysis.srm": 1,
    "shoplab.analysis.interactions": 3,
    "shoplab.analysis.rows": 1,
    "shoplab.analysis.spec": 1,
    "shoplab.analysis.variables": 1,
    "shoplab.analysis.verdict": 1,
    "shoplab.core.exposures": 1,
    "shoplab.experiments.hashing": 1,
    "shoplab.experiments.allocation": 1,
    "shoplab.experiments.assignment": 1,
    "shoplab.experiments.loader": 1,
    "shoplab.simulator.experiment_policy": 1,  # was experiments.policy: the simulator owns it
    "shoplab.audit.rehash": 1,
}


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """Node ids of the doctest items pytest collects under ``shoplab/`` (one subprocess)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        + ["shoplab"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, f"collecting shoplab/ failed:\n{out.stdout[-4000:]}{out.stderr}"
    return [line for line in out.stdout.splitlines() if "::" in line]


def _file_of(node_id: str) -> str:
    return node_id.split("::", 1)[0]


def test_every_item_is_a_doctest_of_a_shoplab_module_collected_once(collected: list[str]) -> None:
    assert collected, "no docstring example collected under shoplab/"
    assert all(node.startswith("shoplab/") for node in collected)
    duplicated = [node for node, n in Counter(collected).items() if n > 1]
    assert duplicated == []
    for node in collected:  # `path::module.qualname`: the module is named after its path
        path, name = node.split("::", 1)
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        assert name == module or name.startswith(module + "."), node


@pytest.mark.parametrize(("package", "floor"), sorted(MIN_DOCSTRINGS.items()))
def test_each_package_keeps_its_docstring_examples(
    collected: list[str], package: str, floor: int
) -> None:
    per_package = Counter(_file_of(node).split("/")[1] for node in collected)
    assert per_package[package] >= floor


def test_every_module_with_an_example_is_collected(collected: list[str]) -> None:
    """A ``>>>`` in any module pytest would collect means that module's examples ran."""
    files = {_file_of(node) for node in collected}
    missing = []
    for dirpath, dirnames, filenames in os.walk(ROOT / "shoplab", followlinks=True):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not not_collected(here / d)]
        for name in filenames:
            path = here / name
            if name.endswith(".py") and not not_collected(path):
                if ">>> " in path.read_text(encoding="utf-8"):
                    rel = path.relative_to(ROOT).as_posix()
                    if rel not in files:
                        missing.append(rel)
    assert missing == []


@pytest.mark.parametrize(("module", "examples"), sorted(FORMERLY_LISTED.items()))
def test_formerly_listed_modules_are_collected_with_their_examples(
    collected: list[str], module: str, examples: int
) -> None:
    mod = importlib.import_module(module)
    found = doctest.DocTestFinder().find(mod)
    attempted = sum(len(test.examples) for test in found)
    assert attempted >= examples
    names = {node.split("::", 1)[1] for node in collected}
    assert {test.name for test in found if test.examples} <= names
