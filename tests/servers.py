"""Real servers in tests (Streamlit, `feast serve`, `feast ui`): a free loopback port and a wait.

One helper instead of four copies of the same poll loop: each test starts its own subprocess and
waits here until the health URL answers 200, failing with the process's own output when it exits
or when the bounded wait runs out.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["free_port", "start_redis", "wait_for_http"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it; the test binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(
    url: str,
    proc: subprocess.Popen[str] | subprocess.Popen[bytes],
    timeout_s: float,
    output: Callable[[], str],
) -> None:
    """Poll ``url`` until it answers 200; fail with ``output()`` if ``proc`` exits or time runs out.

    Args:
        url: the health URL.
        proc: the server process (its exit ends the wait at once).
        timeout_s: the bounded wait (start-up on a loaded 2-core machine takes seconds).
        output: the server's output so far, for the failure message.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{output()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer in {timeout_s:g} s:\n{output()[-3000:]}")
        time.sleep(0.3)


def start_redis(port: int, log: Path) -> subprocess.Popen[bytes]:
    """A real ``redis-server`` on 127.0.0.1:``port`` without persistence, once it answers PING.

    Fails the test with the server's log when it exits or does not answer within 20 s.
    """
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    with log.open("a") as out:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while True:
        try:
            if redis.Redis(port=port, socket_connect_timeout=1).ping():
                return proc
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
