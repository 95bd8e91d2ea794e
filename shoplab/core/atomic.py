"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every step that writes a file the next step reads (event partitions, feature tables, the exposure
log, the experiment lock, the Feast registry) writes to a hidden temp file in the same folder and
renames it over the target. Temp files are hidden (``.name.<pid>.<random>.tmp``) so that file
discovery (:mod:`shoplab.core.files`) never reads one; a crash leaves only such a file behind.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "temp_name"]


def temp_name(final: Path) -> Path:
    """The hidden temp path beside ``final`` (unique per process and call)."""
    return final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


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
