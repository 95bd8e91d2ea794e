"""Atomic writes: a reader sees the old file or the new one, and a crash leaves no temp file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shoplab.core.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    orphan_temp_files,
    remove_orphans,
    temp_name,
)
from shoplab.core.files import hidden_files, parquet_files


def test_success_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "x.parquet"
    atomic_write_bytes(target, b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp.name.startswith(".x.parquet.")
        assert tmp.name.endswith(".tmp")
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # nothing visible until the block ends
        assert parquet_files(target.parent) == [target]  # the temp file is never data
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["x.parquet"]


@pytest.mark.parametrize("crash", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_crash_in_the_block_keeps_the_old_file_and_no_temp(
    tmp_path: Path, crash: BaseException
) -> None:
    target = atomic_write_text(tmp_path / "lock.json", '{"v": 1}')

    def half_write() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2, "half')
            raise crash

    with pytest.raises(type(crash)):
        half_write()
    assert target.read_text() == '{"v": 1}'
    assert hidden_files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["lock.json"]


def test_a_crash_before_the_first_write_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad"), atomic_path(tmp_path / "new.bin"):
        raise ValueError("bad")
    assert list(tmp_path.iterdir()) == []


def test_durable_fsyncs_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    atomic_write_bytes(tmp_path / "registry.db", b"proto", durable=True)
    assert len(synced) == 2  # the file before the rename, the folder after it
    assert (tmp_path / "registry.db").read_bytes() == b"proto"


def test_a_failing_fsync_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = atomic_write_bytes(tmp_path / "registry.db", b"before")

    def dies(fd: int) -> None:
        raise OSError("EIO")

    monkeypatch.setattr(os, "fsync", dies)
    with pytest.raises(OSError, match="EIO"):
        atomic_write_bytes(target, b"after", durable=True)
    assert target.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["registry.db"]


def test_temp_names_are_unique_and_hidden(tmp_path: Path) -> None:
    names = {temp_name(tmp_path / "a.parquet").name for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(".a.parquet.") for n in names)


def test_orphans_of_dead_writers_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )
    dead_pid = int(dead.stdout)
    orphan = tmp_path / f".2026-01-01.parquet.{dead_pid}.0123456789ab.tmp"
    orphan.write_bytes(b"half")
    live = temp_name(tmp_path / "2026-01-02.parquet")  # this process: still writing
    live.write_bytes(b"half")
    other = tmp_path / ".notes.tmp"  # not a name atomic_path gives: not ours to remove
    other.write_bytes(b"x")
    data = atomic_write_bytes(tmp_path / "2026-01-03.parquet", b"ok")

    assert orphan_temp_files(tmp_path) == [orphan]
    assert remove_orphans(tmp_path) == [orphan]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other.name, data.name]
    )
    assert remove_orphans(tmp_path / "missing") == []
