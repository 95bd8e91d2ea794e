"""Where generated data lives.

Everything shoplab generates (event logs, quarantine, feature tables, the Feast registry and online
store, exposures, scorecards) lives under one data root so that a run can be wiped or moved as a
unit and nothing generated is ever committed. The root is ``$SHOPLAB_DATA`` (default ``./data``,
see :func:`data_root`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from shoplab.core.settings import settings

__all__ = [
    "data_root",
    "events_dir",
    "exposures_dir",
    "feature_tables_dir",
    "feast_dir",
    "quarantine_dir",
    "scorecards_dir",
    "under_data_root",
    "using_data_root",
]


def data_root() -> Path:
    """Return the data root, resolved to an absolute path: the one rule every step follows.

    ``$SHOPLAB_DATA`` when set; else ``./data`` of the working directory, except inside a Feast
    repo (a folder holding ``feature_store.yaml``), where it is the ``data`` folder beside the repo:
    ``feast -c feature_repo apply`` changes into ``feature_repo/`` before it imports anything, and
    must still see the ``./data`` of the folder it was started from.
    """
    configured = settings().data
    if configured is not None:
        return configured.expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / "feature_store.yaml").is_file():
        return (cwd.parent / "data").resolve()
    return (cwd / "data").resolve()


def under_data_root(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as is when absolute, else resolved under the data root.

    What a config file's relative path means (``feature_store.yaml``'s ``feast/registry.db``):
    Feast would resolve it against the repo folder it changed into, or not at all.

    Example:
        >>> under_data_root("/srv/online.db").as_posix()
        '/srv/online.db'
        >>> under_data_root("feast/online.db") == data_root() / "feast" / "online.db"
        True
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else data_root() / p


def events_dir(table: str | None = None) -> Path:
    """Return ``<root>/events`` or the folder of one event table (``<root>/events/<table>``)."""
    base = data_root() / "events"
    return base / table if table else base


def exposures_dir() -> Path:
    """Return the append-only exposure log folder (an event table written by assignment)."""
    return events_dir("exposures")


def quarantine_dir(table: str | None = None) -> Path:
    """Return ``<root>/quarantine`` or ``<root>/quarantine/<table>`` for rejected rows."""
    base = data_root() / "quarantine"
    return base / table if table else base


def feature_tables_dir(view: str | None = None) -> Path:
    """Return ``<root>/features`` or the Parquet source folder of one feature view."""
    base = data_root() / "features"
    return base / view if view else base


def feast_dir() -> Path:
    """Return ``<root>/feast``: the Feast registry and the SQLite online store."""
    return data_root() / "feast"


def scorecards_dir() -> Path:
    """Return ``<root>/scorecards``: scorecards written by ``shoplab analyze`` / the demo."""
    return data_root() / "scorecards"


@contextlib.contextmanager
def using_data_root(root: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Set ``$SHOPLAB_DATA`` to ``root`` (default: the current root, made absolute) for a block.

    Pinning the variable to an absolute path matters where a callee resolves it from another
    working directory (``feast apply`` changes into ``feature_repo/``) or where work is redirected
    to a scratch world (the audit simulates under ``<root>/audit/world``).
    """
    target = Path(root).expanduser().resolve() if root is not None else data_root()
    old = os.environ.get("SHOPLAB_DATA")
    os.environ["SHOPLAB_DATA"] = str(target)
    try:
        yield target
    finally:
        if old is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = old
