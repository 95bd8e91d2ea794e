"""One writer at a time per data root: two builds at once would mix their partitions.

Every step that writes under the data root (simulate, validate, build, apply, materialize) holds
:func:`writing` for its duration: an advisory ``flock`` on a lock file named by the data root's
resolved path, in the machine's temp folder (not under the root: a refused command leaves the
root exactly as it was, and flock is per machine anyway).
A second writer does not wait: it fails at once with a :class:`DataRootBusyError` that names the
step holding the lock, its pid and since when, so a user knows what to wait for. The lock is
re-entrant within a process (the demo's steps, a simulation that builds features between days),
and the kernel releases it when its process dies, so a killed run never leaves the root locked.
Readers (analysis, serving, the dashboard) take no lock: every writer replaces files atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from shoplab.core.errors import StateError
from shoplab.core.paths import data_root

__all__ = ["DataRootBusyError", "lock_path", "writes_data_root", "writing"]

P = ParamSpec("P")
R = TypeVar("R")

_HELD: dict[Path, int] = {}  # lock file -> depth held by this process
_GUARD = threading.Lock()


class DataRootBusyError(StateError):
    """Another process is writing this data root (the message names its step and pid)."""


def lock_path() -> Path:
    """``<tmp>/shoplab-locks/<hash of the resolved data root>.lock``."""
    root = str(data_root().resolve())
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "shoplab-locks" / f"{digest}.lock"


def _holder(path: Path) -> str:
    try:
        doc = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"`{doc.get('step', '?')}` (pid {doc.get('pid', '?')}, since {doc.get('since', '?')})"


@contextlib.contextmanager
def writing(step: str) -> Iterator[None]:
    """Hold the data root's write lock while ``step`` runs.

    Raises:
        DataRootBusyError: another process holds it (nothing was written by this step).
    """
    path = lock_path()
    with _GUARD:
        depth = _HELD.get(path, 0)
        if depth:
            _HELD[path] = depth + 1
    if depth:
        try:
            yield
        finally:
            with _GUARD:
                _HELD[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataRootBusyError(
                f"data root == '{data_root()}' is being written by {_holder(path)}, must have "
                f"one writer at a time: wait for it to finish before `{step}` (two runs at once "
                "would mix their files)."
            ) from None
        os.ftruncate(fd, 0)
        stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
        os.write(fd, json.dumps({"step": step, "pid": os.getpid(), "since": stamp}).encode())
        with _GUARD:
            _HELD[path] = 1
        try:
            yield
        finally:
            with _GUARD:
                _HELD.pop(path, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def writes_data_root(step: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that writes the data root: it runs under :func:`writing`."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            with writing(step):
                return fn(*args, **kwargs)

        return inner

    return wrap
