"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every step that writes a file the next step reads (event partitions, feature tables, the exposure
log, the experiment lock, the Feast registry) writes to a hidden temp file in the same folder and
renames it over the target. Temp files are hidden (``.name.<pid>.<random>.tmp``) so that file
discovery (:mod:`shoplab.core.files`) never reads one; a crash leaves only such a file behind,
and :func:`remove_orphans` removes those whose writer is gone (a SIGKILLed build).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "orphan_temp_files",
    "remove_orphans",
    "temp_name",
]

_TEMP: Final = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$")
"""A name :func:`temp_name` gives; group 1 is the writer's pid."""


def temp_name(final: Path) -> Path:
    """The hidden temp path beside ``final`` (unique per process and call)."""
    return final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal sent, only the existence check
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def orphan_temp_files(folder: Path) -> list[Path]:
    """Temp files of atomic writes in ``folder`` whose writing process no longer runs.

    A writer killed mid-write (SIGKILL, power loss) cannot remove its temp file. A temp file of
    a live process is never listed: its writer may still rename it.
    """
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        match = _TEMP.match(p.name)
        if match is not None and p.is_file() and not _running(int(match.group(1))):
            out.append(p)
    return out


def remove_orphans(folder: Path) -> list[Path]:
    """Remove :func:`orphan_temp_files` of ``folder``; return what was removed.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".x.parquet.999999999.0123456789ab.tmp").write_bytes(b"half")
        >>> [p.name for p in remove_orphans(folder)], list(folder.iterdir())
        (['.x.parquet.999999999.0123456789ab.tmp'], [])
    """
    removed = orphan_temp_files(folder)
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp path to write; on success rename it over ``final``, on error remove it.

    Args:
        final: the file to replace.
        durable: fsync the file and its folder, so the rename survives a power loss (the Feast
            registry: a truncated registry blocks every command).

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "x.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("new")
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('new', ['x.txt'])
    """
    target = Path(final)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(
    final: str | os.PathLike[str], data: bytes, *, durable: bool = False
) -> Path:
    """Write ``data`` to ``final`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(final, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def atomic_write_text(final: str | os.PathLike[str], text: str, *, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``final`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(final, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)
