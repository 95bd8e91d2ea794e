"""One exception tree: every exception class shoplab defines is a ``ShoplabError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import shoplab
from shoplab.core import errors

# Modules that are not imported as modules: Feast loads the repo's definition files as top-level
# scripts (``from features import ...``), Streamlit runs the app and its pages.
_SCRIPTS = re.compile(
    r"^shoplab\.feature_repo\.(?!pipelines\b)\w+$|^shoplab\.dashboards\.(app|app_pages)\b"
)


def _modules() -> list[str]:
    failed: list[str] = []
    names = [
        m.name
        for m in pkgutil.walk_packages(shoplab.__path__, "shoplab.", onerror=failed.append)
        if not _SCRIPTS.match(m.name)
    ]
    assert not failed, f"packages that do not import: {failed}"
    return sorted(names)


MODULES = _modules()


def _exceptions(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == module_name
    ]


def test_the_walk_sees_the_whole_project() -> None:
    packages = {n.split(".")[1] for n in MODULES}
    assert {"analysis", "core", "events", "experiments", "features", "simulator"} <= packages
    assert "shoplab.feature_repo.pipelines.relations" in MODULES


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exception_class_is_a_shoplab_error(module_name: str) -> None:
    outside = [
        c.__qualname__ for c in _exceptions(module_name) if not issubclass(c, errors.ShoplabError)
    ]
    assert not outside, f"{module_name}: {outside} must derive from core.errors.ShoplabError"


def test_the_tree_finds_the_known_classes() -> None:
    found = {c.__name__ for m in MODULES for c in _exceptions(m)}
    assert {
        "EventLogError",
        "FeatureStoreError",
        "UnknownServiceError",
        "LabelFrameError",
        "FeatureTableMissingError",
        "ExperimentError",
        "UnitIdError",
        "DemoStepError",
        "MissingDependency",
    } <= found


def test_every_subclass_is_drawn_in_the_tree() -> None:
    """The drawing at the top of core/errors.py names every class under a branch."""
    drawing = inspect.getdoc(errors) or ""
    classes = {c.__name__ for m in MODULES for c in _exceptions(m)} - {
        "ShoplabError", "ConfigError", "InputError", "DataError", "NotFoundError", "StateError",
    }
    missing = sorted(c for c in classes if not re.search(rf"\b{c}\b", drawing))
    assert not missing, f"draw {missing} in the tree of shoplab/core/errors.py"


@pytest.mark.parametrize(
    ("branch", "builtin"),
    [
        (errors.ConfigError, ValueError),
        (errors.InputError, ValueError),
        (errors.DataError, ValueError),
        (errors.NotFoundError, LookupError),
        (errors.StateError, RuntimeError),
    ],
)
def test_branches_keep_the_builtin_callers_caught_before(
    branch: type[errors.ShoplabError], builtin: type[Exception]
) -> None:
    assert issubclass(branch, errors.ShoplabError)
    assert issubclass(branch, builtin)
    with pytest.raises(builtin, match="x == 1, must be 2"):
        raise branch("x == 1, must be 2")


def test_not_found_prints_its_message_as_written() -> None:
    """KeyError's str() is the repr of its argument; the tree's lookups print the message."""
    from shoplab.events.errors import UnknownTableError

    err = UnknownTableError("table == 'x', must be one of ['clicks'].")
    assert isinstance(err, KeyError)
    assert str(err) == "table == 'x', must be one of ['clicks']."


@pytest.mark.parametrize(
    ("cls", "branch"),
    [
        ("shoplab.events.errors.EventLogError", errors.DataError),
        ("shoplab.events.errors.UnknownTableError", errors.NotFoundError),
        ("shoplab.features.errors.UnknownServiceError", errors.NotFoundError),
        ("shoplab.features.errors.UnknownFeatureError", errors.NotFoundError),
        ("shoplab.features.errors.LabelFrameError", errors.InputError),
        ("shoplab.features.errors.RankingRequestError", errors.InputError),
        ("shoplab.features.errors.FeatureTableMissingError", errors.StateError),
        ("shoplab.feature_repo.pipelines.NoEventsError", errors.StateError),
        ("shoplab.experiments.errors.ConfigError", errors.ConfigError),
        ("shoplab.experiments.errors.UnitIdError", errors.InputError),
        ("shoplab.demo.DemoStepError", errors.StateError),
        ("shoplab.dashboards.data.MissingDependency", errors.StateError),
    ],
)
def test_each_class_sits_on_its_branch(cls: str, branch: type[errors.ShoplabError]) -> None:
    module, _, name = cls.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), branch)


@pytest.mark.parametrize(
    ("cls", "kept"),
    [
        ("shoplab.features.errors.UnknownServiceError", ValueError),
        ("shoplab.features.errors.FeatureTableMissingError", ValueError),
        ("shoplab.features.errors.FeatureStoreError", ValueError),
        ("shoplab.events.errors.EventLogError", ValueError),
        ("shoplab.events.errors.UnknownTableError", KeyError),
        ("shoplab.feature_repo.pipelines.NoEventsError", FileNotFoundError),
        ("shoplab.experiments.errors.UnitIdError", ValueError),
        ("shoplab.demo.DemoStepError", RuntimeError),
        ("shoplab.dashboards.data.MissingDependency", RuntimeError),
    ],
)
def test_compatibility_bases_are_kept(cls: str, kept: type[Exception]) -> None:
    module, _, name = cls.rpartition(".")
    assert issubclass(getattr(importlib.import_module(module), name), kept)


def test_the_facade_exports_the_tree() -> None:
    for name in errors.__all__:
        assert getattr(shoplab, name) is getattr(errors, name)
        assert name in shoplab.__all__


def test_core_imports_nothing_of_the_project() -> None:
    """The ground layer stands alone (import-linter checks it too; this names the line)."""
    core = Path(errors.__file__).parent
    for path in sorted(core.glob("*.py")):
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(?:from|import) (shoplab\.\w+)", line)
            assert m is None or m.group(1) == "shoplab.core", f"{path.name}: {line.strip()}"
