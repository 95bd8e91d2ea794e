"""Where the Feast repo and its generated state live.

Feast's own path handling does not fit a movable data root: ``feature_store.yaml`` gets
``os.path.expandvars`` (an unset ``$SHOPLAB_DATA`` stays literal text, there is no default syntax)
and ``feast apply`` chdirs into the repo before importing definitions, so a cwd-relative ``./data``
would land in ``feature_repo/data``. Every Feast-facing path therefore goes through
:func:`feast_data_root`: ``$SHOPLAB_DATA`` when set, else ``<project>/data`` (the ``./data`` of a
command run from the project root, which is where ``make`` and the docs run them).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["feast_data_root", "repo_path"]


def repo_path() -> Path:
    """Return the absolute path of the ``feature_repo`` folder (the Feast repo)."""
    spec = importlib.util.find_spec("shoplab.feature_repo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "feature_repo is not importable: install shoplab with `pip install -e .`"
        )
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def feast_data_root() -> Path:
    """Return the data root as Feast components must see it (see the module docstring)."""
    env = os.environ.get("SHOPLAB_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return repo_path().parent / "data"
