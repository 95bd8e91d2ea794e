"""Versions of the feature tables: what a build wrote, and what materialization loaded.

A view's version is the content hash of its partitions (file names and bytes), so it changes
exactly when a reader could see different rows: a rebuild from another world, a pruned day, a
partition written by hand. ``build`` writes ``<root>/features/manifest.json`` (per view: version,
days, rows; the version of the event log it read, see :func:`event_log_input`); materialization
compares the version it loaded last with :func:`view_version` of the tables as they are now and
reloads a view from scratch when they differ (``shoplab.features.repo.materialize``). Hashing
reads every byte once (~1 GB/s with SHA-256 on this box): cheaper than the reload it decides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shoplab.core.atomic import atomic_write_text
from shoplab.core.files import file_digest, parquet_files
from shoplab.core.paths import events_dir, feature_tables_dir
from shoplab.events.manifest import check_event_log

__all__ = [
    "file_digest",
    "folder_version",
    "manifest_path",
    "event_log_input",
    "read_manifest",
    "view_version",
    "write_manifest",
]


def folder_version(folder: Path) -> str:
    """Content hash of the visible Parquet files of ``folder`` ("empty" without any).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> folder_version(folder)
        'empty'
        >>> _ = (folder / "2026-01-01.parquet").write_bytes(b"a")
        >>> v1 = folder_version(folder)
        >>> _ = (folder / "2026-01-01.parquet").write_bytes(b"b")
        >>> v1 != folder_version(folder)
        True
    """
    files = parquet_files(folder)
    if not files:
        return "empty"
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0" + file_digest(p).encode() + b"\n")
    return h.hexdigest()[:16]


def view_version(view: str) -> str:
    """The version of one feature view's table as it is on disk now."""
    return folder_version(feature_tables_dir(view))


def manifest_path() -> Path:
    """``<root>/features/manifest.json``."""
    return feature_tables_dir() / "manifest.json"


def _inputs() -> dict[str, dict[str, Any]]:
    root = events_dir()
    if not root.is_dir():
        return {}
    return {
        f"{folder.name}/{p.name}": {"bytes": p.stat().st_size, "sha256": file_digest(p)}
        for folder in sorted(q for q in root.iterdir() if q.is_dir())
        for p in parquet_files(folder)
    }


def event_log_input(tables: Sequence[str]) -> dict[str, Any]:
    """The version of the event log a build reads: the validated one, or a hash of raw files.

    A validated log is named by its manifest version (``shoplab.events.manifest``), with no
    re-hash; a log never validated or changed since is hashed here (``raw:<hash>``), so a
    rebuild over other raw files is still seen as a new input. ``status`` says which.
    """
    check = check_event_log(tables, allow_unvalidated=True)
    out: dict[str, Any] = {
        "status": check.status,
        "version": check.version,
        "validated_at": check.validated_at,
        "problems": list(check.problems),
    }
    if check.status != "validated":
        h = hashlib.sha256()
        for name, entry in _inputs().items():
            if name.split("/", 1)[0] in tables:
                h.update(f"{name}\0{entry['sha256']}\n".encode())
        out["version"] = "raw:" + h.hexdigest()[:16]
    return out


def write_manifest(
    views: list[str],
    days: tuple[date, ...],
    rows: dict[str, int],
    built_at: datetime,
    event_log: dict[str, Any],
) -> dict[str, Any]:
    """Record the build of ``views`` (merged into the manifest of earlier builds); return it.

    ``event_log`` is :func:`event_log_input` as the build read it: the next build compares its
    version to decide whether days outside its range must be rebuilt too.
    """
    old = read_manifest()
    entry = old.get("views", {})
    for view in views:
        have = sorted(d for d in (p.stem for p in parquet_files(feature_tables_dir(view))))
        entry[view] = {
            "version": view_version(view),
            "event_log": event_log["version"],
            "first_day": have[0] if have else None,
            "last_day": have[-1] if have else None,
            "rebuilt_days": [days[0].isoformat(), days[-1].isoformat()] if days else [],
            "rows_rebuilt": rows.get(view, 0),
        }
    manifest = {"built_at": built_at.isoformat(), "event_log": event_log, "views": entry}
    atomic_write_text(manifest_path(), json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def read_manifest() -> dict[str, Any]:
    """The manifest of the last build ({} before any build, or if unreadable)."""
    try:
        got = json.loads(manifest_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}
