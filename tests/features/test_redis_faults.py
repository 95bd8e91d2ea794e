"""Redis killed in the middle of ``shoplab features materialize``, restarted, the run repeated.

A real ``redis-server`` of its own (killed with SIGKILL while the first keys land, so nothing is
flushed), the materialization as the CLI runs it in its own process. What must hold: the
interrupted run exits non-zero with the error that names the server; the materialization state
does not record the interrupted window as done (so nothing half-written is taken as current);
after a restart (an empty server: no persistence) the same command completes and Redis holds
exactly what the SQLite store holds after the same materialization.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

import shoplab.features as sf
from shoplab.features import materialized
from tests.features.test_rebuild import END, _world
from tests.features.test_redis_store import assert_redis_holds_what_sqlite_holds
from tests.servers import free_port, start_redis

REDIS_SERVER = shutil.which("redis-server")
SHOPLAB = str(Path(sys.executable).with_name("shoplab"))

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,  # ~30 s: a 3,000-user world materialized twice into Redis
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
    ),
]


def _materialize(root: Path, url: str) -> subprocess.Popen[str]:
    env = os.environ | {
        "SHOPLAB_DATA": str(root),
        "SHOPLAB_ONLINE_STORE": "redis",
        "SHOPLAB_REDIS_URL": url,
    }
    return subprocess.Popen(
        [SHOPLAB, "features", "materialize", "--end", END.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_redis_killed_mid_materialize_then_restarted_gives_the_sqlite_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    _world(root, seed=3, days=5, users=3_000)
    sf.build_features()
    monkeypatch.setenv("SHOPLAB_ONLINE_STORE", "sqlite")
    sf.apply_repo()
    sf.materialize(END)  # the reference: the SQLite store after the same materialization
    lite = sf.feature_store()

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "redis.log"
    server = start_redis(port, log)
    monkeypatch.setenv("SHOPLAB_ONLINE_STORE", "redis")
    monkeypatch.setenv("SHOPLAB_REDIS_URL", url)
    sf.apply_repo()
    before = materialized.load()  # the SQLite store's record
    client = redis.Redis(port=port)
    run = _materialize(root, url)
    try:
        deadline = time.monotonic() + 300
        while run.poll() is None and client.dbsize() < 50 and time.monotonic() < deadline:
            time.sleep(0.002)
        assert run.poll() is None, "materialize finished before Redis could be killed"
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        out, _ = run.communicate(timeout=300)
    finally:
        if server.poll() is None:
            server.kill()
    assert run.returncode != 0, out
    assert f"127.0.0.1:{port}" in out, out[-2000:]
    assert "does not answer" in out or "RedisUnavailable" in out, out[-2000:]
    # only views written whole are recorded for Redis; the interrupted one is not taken as
    # current (a record of the SQLite store is never resumed on Redis: it names its store)
    after = materialized.load()
    if after.online == before.online:
        assert after.views == before.views  # nothing finished on Redis before the kill
    else:
        assert len(after.views) < len(before.views)
        assert all(state.end == END for state in after.views.values())

    server = start_redis(port, log)  # empty: no persistence
    try:
        rerun = _materialize(root, url)
        out, _ = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, out[-3000:]
        assert_redis_holds_what_sqlite_holds(lite)
    finally:
        server.terminate()
        server.wait(10)
