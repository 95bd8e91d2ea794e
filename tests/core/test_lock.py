"""The data root's write lock: one writer at a time, re-entrant, released when its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shoplab.core.lock import DataRootBusyError, lock_path, writes_data_root, writing

HOLD = """
import sys, time
from shoplab.core.lock import writing
with writing("features build"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _holder(data_root: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(seconds)],
        env={**os.environ, "SHOPLAB_DATA": str(data_root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_fails_at_once_naming_the_first(data_root: Path) -> None:
    proc = _holder(data_root, 30)
    try:
        t0 = time.perf_counter()
        with pytest.raises(DataRootBusyError) as info, writing("materialize"):
            pass
        assert time.perf_counter() - t0 < 1.0  # no waiting
        message = str(info.value)
        assert "`features build`" in message
        assert f"pid {proc.pid}" in message
        assert "before `materialize`" in message
    finally:
        proc.send_signal(signal.SIGKILL)  # a killed holder: the kernel releases its lock
        proc.wait()
    with writing("materialize"):
        assert lock_path().is_file()


def test_the_lock_is_reentrant_in_one_process(data_root: Path) -> None:
    calls = []

    @writes_data_root("inner step")
    def inner() -> None:
        calls.append("inner")

    with writing("outer step"):
        inner()
        with writing("again"):
            calls.append("again")
    assert calls == ["inner", "again"]
    proc = _holder(data_root, 0.1)  # released: another process can take it
    proc.wait()
    assert proc.returncode == 0


def test_the_lock_leaves_the_data_root_as_it_was(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(data_root.rglob("*"))
    with writing("simulate"):
        assert lock_path().is_file()
    assert sorted(data_root.rglob("*")) == before
    assert data_root.resolve() not in lock_path().parents
    mine = lock_path()
    monkeypatch.setenv("SHOPLAB_DATA", str(data_root / "another-root"))
    assert lock_path() != mine  # one lock per data root: two worlds can be built at once
