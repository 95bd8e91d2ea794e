"""Online stores: ``ranking_features`` 1 user x 500 candidates on SQLite and on Redis.

One simulated world, built and materialized into both stores at the same instant (the two
profiles of ``SHOPLAB_ONLINE_STORE``); the reads alternate between the stores, so both see the
same machine load. Baselines: SQLite's p50 for Redis, and the physical bound on Redis: the raw
``MGET`` of the user's, the 500 items' and their shops' keys with no decoding (for ranker_v2
without the user x category read, so a lower bound). A real ``redis-server`` is started on a
free loopback port with no persistence; without the binary the area reports nothing.
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
    import redis

    import shoplab.features as sf
    from shoplab.events import load_events
    from shoplab.features.redis_store import value_prefix
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
    for service in ("ranker_v1", "ranker_v2"):
        times: dict[str, list[float]] = {"sqlite": [], "redis": []}
        for i in range(calls + 20):  # the stores alternate: the same load for both
            user = int(rng.integers(1, 20_001))
            for profile, samples in times.items():
                os.environ["SHOPLAB_ONLINE_STORE"] = profile
                t0 = time.perf_counter()
                frame = sf.ranking_features(user, items, service, as_of=end)
                if i >= 20:  # warm-up: plans, connections
                    samples.append(time.perf_counter() - t0)
                if frame.height != 500:
                    raise RuntimeError(f"{profile} returned {frame.height} rows, not 500")
        r = redis.Redis.from_url(url)
        shops = sorted({int(s) for s in frame["shop_id"].drop_nulls()})
        rounds = [
            [value_prefix("shoplab", "user_long_term") + b"1"]
            + ([value_prefix("shoplab", "user_short_term") + b"1"] if service == "ranker_v2"
               else []),
            [value_prefix("shoplab", "item_stats") + str(i).encode() for i in items],
            [value_prefix("shoplab", "shop_stats") + str(s).encode() for s in shops],
        ]
        raw = []
        for i in range(calls + 20):
            t0 = time.perf_counter()
            for keys in rounds:
                r.mget(keys)
            if i >= 20:
                raw.append(time.perf_counter() - t0)
        sq, rd = times["sqlite"], times["redis"]
        out += [
            Result("online_stores", f"{service} sqlite p50", statistics.median(sq),
                   note=f"p99 {_p(sq, 0.99) * 1e3:.1f} ms; 1 user x 500 items"),
            Result("online_stores", f"{service} redis p50", statistics.median(rd),
                   baseline="sqlite p50", ratio=statistics.median(rd) / statistics.median(sq),
                   note=f"p99 {_p(rd, 0.99) * 1e3:.1f} ms"),
            Result("online_stores", f"{service} redis raw MGET p50", statistics.median(raw),
                   note=f"{len(rounds)} round trips, no decoding: the bound"),
        ]
    return out


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
