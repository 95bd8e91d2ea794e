"""Online stores: ``ranking_features`` 1 user x 500 candidates on SQLite and on Redis.

One simulated world, built and materialized into both stores at the same instant (the two
profiles of ``SHOPLAB_ONLINE_STORE``); the reads alternate between the stores, so both see the
same machine load. Baselines: SQLite's p50 for Redis, and the physical bound on Redis: the raw
``MGET`` of exactly the keys the request read (recorded from the store's own calls: the user's,
the distinct items', their shops', and for ranker_v2 the user x category keys), sent the way the
store sends it (packed by hiredis on a pooled connection), with no decoding. The store's reads
inside each request (``read_view`` per view: the ``MGET`` and the decoding into columns, or
SQLite's indexed reads) are timed apart from the rest of ``ranking_features`` (keys, ttl,
on-demand views), which both stores share. A real ``redis-server`` is started on a free
loopback port with no persistence; without the binary the area reports nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from shoplab.benchmarks.harness import Result

__all__ = ["run"]

START = date(2026, 1, 1)
DAYS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _p(samples: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(samples), q))


def _measure(url: str, calls: int) -> list[Result]:

    import shoplab.features as sf
    from shoplab.events import load_events
    from shoplab.simulator import simulate

    simulate(users=20_000, items=3_000, days=DAYS, seed=5, start=START)
    load_events()
    sf.build_features()
    end = datetime.combine(START + timedelta(days=DAYS), datetime.min.time(), tzinfo=UTC)
    for profile in ("sqlite", "redis"):
        os.environ["SHOPLAB_ONLINE_STORE"] = profile
        sf.apply_repo()
        sf.materialize(end)
    rng = np.random.default_rng(0)
    items = [int(i) for i in rng.choice(np.arange(1, 3_001), size=500, replace=False)]
    out: list[Result] = []
    reads = _ReadTimer()
    with reads:
        for service in ("ranker_v1", "ranker_v2"):
            out += _service(url, service, items, end, calls, rng, reads)
    return out


class _ReadTimer:
    """Times the stores' ``read_view`` calls and records the keys each Redis ``MGET`` asked for.

    Patches the module attributes the serving path looks up per call (``online.read_view`` for
    SQLite, ``redis_store.read_view`` and ``redis_store._mget`` for Redis) and restores them.
    """

    def __init__(self) -> None:
        self.spent = 0.0
        self.mgets: list[list[bytes]] = []

    def __enter__(self) -> None:
        from shoplab.features import online, redis_store

        # the serving path's module globals: online's ``read_view`` is _wide_read's, imported
        names = vars(online)
        self._saved = (names["read_view"], redis_store.read_view, redis_store._mget)
        sqlite_read, redis_read, mget = self._saved
        self.saved_mget = mget

        def timed(fn: Any) -> Any:
            def run(*args: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    self.spent += time.perf_counter() - t0

            return run

        def recorded(r: Any, keys: list[bytes]) -> Any:
            self.mgets.append(list(keys))
            return mget(r, keys)

        names["read_view"] = timed(sqlite_read)
        redis_store.read_view = timed(redis_read)
        redis_store._mget = recorded

    def __exit__(self, *exc: object) -> None:
        from shoplab.features import online, redis_store

        vars(online)["read_view"], redis_store.read_view, redis_store._mget = self._saved


def _service(
    url: str,
    service: str,
    items: list[int],
    end: datetime,
    calls: int,
    rng: np.random.Generator,
    reads: _ReadTimer,
) -> list[Result]:
    import redis

    import shoplab.features as sf

    times: dict[str, list[float]] = {"sqlite": [], "redis": []}
    store_reads: dict[str, list[float]] = {"sqlite": [], "redis": []}
    rounds: list[list[bytes]] = []
    for i in range(calls + 20):  # the stores alternate: the same load for both
        user = int(rng.integers(1, 20_001))
        for profile, samples in times.items():
            os.environ["SHOPLAB_ONLINE_STORE"] = profile
            reads.spent, reads.mgets = 0.0, []
            t0 = time.perf_counter()
            frame = sf.ranking_features(user, items, service, as_of=end)
            took = time.perf_counter() - t0
            if i >= 20:  # warm-up: plans, connections
                samples.append(took)
                store_reads[profile].append(reads.spent)
            if profile == "redis":
                rounds = reads.mgets
            if frame.height != 500:
                raise RuntimeError(f"{profile} returned {frame.height} rows, not 500")
    r = redis.Redis.from_url(url)
    mget = reads.saved_mget  # the store's own MGET (hiredis-packed), not the recording one
    raw = []
    for i in range(calls + 20):
        t0 = time.perf_counter()
        for keys in rounds:
            mget(r, keys)
        if i >= 20:
            raw.append(time.perf_counter() - t0)
    raw_p50 = statistics.median(raw)
    sq_read, rd_read = store_reads["sqlite"], store_reads["redis"]
    n_keys = sum(len(k) for k in rounds)
    sq, rd = times["sqlite"], times["redis"]
    return [
        Result("online_stores", f"{service} sqlite p50", statistics.median(sq),
               note=f"p99 {_p(sq, 0.99) * 1e3:.1f} ms; 1 user x 500 items"),
        Result("online_stores", f"{service} redis p50", statistics.median(rd),
               baseline="sqlite p50", ratio=statistics.median(rd) / statistics.median(sq),
               note=f"p99 {_p(rd, 0.99) * 1e3:.1f} ms"),
        Result("online_stores", f"{service} redis raw MGET p50", raw_p50,
               note=f"p99 {_p(raw, 0.99) * 1e3:.2f} ms; {len(rounds)} MGETs of the request's "
               f"{n_keys} keys, no decoding: the bound"),
        Result("online_stores", f"{service} sqlite store reads p50", statistics.median(sq_read),
               note=f"p99 {_p(sq_read, 0.99) * 1e3:.2f} ms; read_view per view, inside "
               "ranking_features"),
        Result("online_stores", f"{service} redis store reads p50", statistics.median(rd_read),
               baseline="redis raw MGET p50", ratio=statistics.median(rd_read) / raw_p50,
               note=f"p99 {_p(rd_read, 0.99) * 1e3:.2f} ms (goal: within 2x the raw MGET); "
               "MGET + decoding, inside ranking_features"),
    ]


def run(quick: bool) -> list[Result]:
    """Both stores on one world (quick: 100 calls per service; full: 300)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return [Result("online_stores", "skipped", 0.0, note="redis-server is not installed")]
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    saved = {k: os.environ.get(k) for k in ("SHOPLAB_DATA", "SHOPLAB_REDIS_URL",
                                            "SHOPLAB_ONLINE_STORE")}
    try:
        import redis

        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory(prefix="shoplab-bench-online-") as tmp:
            root = Path(tmp) / "data"
            root.mkdir()
            os.environ["SHOPLAB_DATA"] = str(root)
            os.environ["SHOPLAB_REDIS_URL"] = url
            return _measure(url, 100 if quick else 300)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)
