"""Where generated data lives.

Everything shoplab generates (event logs, quarantine, feature tables, the Feast registry and online
store, exposures, scorecards) lives under one data root so that a run can be wiped or moved as a
unit and nothing generated is ever committed. The root is ``$SHOPLAB_DATA`` (default ``./data``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "data_root",
    "events_dir",
    "exposures_dir",
    "feature_tables_dir",
    "feast_dir",
    "quarantine_dir",
    "scorecards_dir",
    "using_data_root",
]


def data_root() -> Path:
    """Return the data root (``$SHOPLAB_DATA`` or ``./data``), resolved to an absolute path."""
    return Path(os.environ.get("SHOPLAB_DATA", "data")).expanduser().resolve()


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
