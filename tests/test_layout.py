"""The house's layout holds: one namespace, no generic top-level packages, layers as declared.

The design card's folders (``analysis/``, ``experiments/``, ...) sit at the top of the repo but
install as ``shoplab.<name>``. Inside the repo a stray ``import analysis`` still works (the repo
root is on ``sys.path`` under pytest), silently loading a second copy of every module; installed
from the wheel it breaks. So the rule is checked three ways: in the source (no such import), in
an interpreter started outside the repo (no such package), and by import-linter (the layers).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERIC = ("analysis", "experiments", "dashboards", "benchmarks", "feature_repo")
SOURCES = ("shoplab", "tests", "examples")


def _python_files() -> Iterator[Path]:
    """Every ``.py`` under the source folders, through the ``shoplab/<name>`` symlinks."""
    for folder in SOURCES:
        for dirpath, dirnames, filenames in os.walk(ROOT / folder, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            yield from (Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))


def _generic(module: str) -> bool:
    return module.split(".", 1)[0] in GENERIC


def _generic_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: module`` for every import of a generic top-level package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (  # importlib.import_module("analysis.x") and friends, with a literal name
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        rel = path.relative_to(root).as_posix()
        found += [f"{rel}:{node.lineno}: {name}" for name in names if _generic(name)]
    return found


def test_the_walk_sees_every_package() -> None:
    """Guard the guard: the walk follows the symlinks into the design card's folders."""
    seen = {p.relative_to(ROOT).parts[:2] for p in _python_files()}
    for name in GENERIC:
        assert ("shoplab", name) in seen
    assert ("examples", "train_ctr.py") in seen


def test_nothing_imports_a_generic_top_level_package() -> None:
    offenders = [hit for path in _python_files() for hit in _generic_imports(path)]
    assert offenders == [], "import them as shoplab.<name>:\n" + "\n".join(offenders)


def test_the_detector_flags_what_it_must(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        "import analysis\nfrom experiments.models import Experiment\n"
        "import shoplab.analysis\nfrom shoplab.experiments import assign\nfrom . import x\n"
        "importlib.import_module('dashboards.app')\n",
        encoding="utf-8",
    )
    hits = sorted(_generic_imports(path, tmp_path), key=lambda hit: int(hit.split(":")[1]))
    assert [hit.split(": ", 1)[1] for hit in hits] == [
        "analysis",
        "experiments.models",
        "dashboards.app",
    ]


def test_every_installed_package_is_under_the_shoplab_namespace() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    packages = setuptools["packages"]
    assert packages, "pyproject lists no packages"
    assert [p for p in packages if p.split(".")[0] != "shoplab"] == []
    assert [p for p in setuptools["package-dir"] if p.split(".")[0] != "shoplab"] == []


def test_no_generic_package_is_importable_outside_the_repo(tmp_path: Path) -> None:
    """From a folder that is not the repo, only ``shoplab.<name>`` resolves, into this repo."""
    code = (
        "import importlib, importlib.util, json, sys\n"
        f"names = {list(GENERIC)!r}\n"
        "top = {n: importlib.util.find_spec(n) is not None for n in names}\n"
        "files = {n: importlib.import_module('shoplab.' + n).__file__ for n in names}\n"
        "print(json.dumps({'top': top, 'files': files}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["top"] == dict.fromkeys(GENERIC, False)
    for name, file in result["files"].items():
        assert Path(file).resolve() == ROOT / name / "__init__.py"


def test_shoplab_resolves_into_this_repo() -> None:
    spec = importlib.util.find_spec("shoplab.analysis")
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT)


def test_import_linter_contracts_hold() -> None:
    """Layers and acyclic siblings as declared in pyproject (``[tool.importlinter]``)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail(f"{lint_imports} missing: install the test extra (`pip install -e .[test]`)")
    out = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, f"broken import contracts:\n{out.stdout}{out.stderr}"
