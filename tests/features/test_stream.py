"""The stream path: events on a real Kafka-protocol broker (Tansu on loopback), the processor,
the push source and ``ranking_features``; values equal to the batch pipeline's."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import shoplab.features as sf
from shoplab.core.paths import events_dir, feature_tables_dir
from shoplab.features.stream import (
    HOUR_US,
    ShortTermProcessor,
    StreamError,
    create_topic,
    events_frame,
    local_broker,
    publish,
)
from tests.servers import free_port

# an engine test: `make test` stays on the embedded engines, `.ci/run` runs these with slow
pytestmark = [pytest.mark.stream, pytest.mark.slow]

COLUMNS = [
    "user_id",
    "event_timestamp",
    "clicks_1h",
    "clicks_1d",
    "impressions_1d",
    "last_clicked_category",
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu, in memory) on 127.0.0.1 at a free port."""
    with local_broker(tmp_path_factory.mktemp("tansu")) as b:
        yield b.bootstrap


_topics = iter(range(10_000))


@pytest.fixture
def topic(broker: str) -> str:
    """A new single-partition topic per test."""
    name = f"events_{next(_topics)}"
    create_topic(broker, name)
    return name


@pytest.fixture
def own_root(built_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built world (pushes and checkpoints write under the data root)."""
    root = tmp_path / "data"
    shutil.copytree(built_root, root)
    monkeypatch.setenv("SHOPLAB_DATA", str(root))
    return root


def _log_events() -> pl.DataFrame:
    imp = pl.read_parquet(events_dir("impressions") / "*.parquet")
    clk = pl.read_parquet(events_dir("clicks") / "*.parquet")
    return events_frame(imp, clk)


def _drain(proc: ShortTermProcessor) -> pl.DataFrame:
    """Poll until idle; every boundary row pushed (hourly stamps), in push order."""
    rows = []
    idle = 0
    while idle < 2:
        report = proc.poll(0.5)
        idle = idle + 1 if report.messages == 0 else 0
        if report.messages:
            on_hour = pl.col("event_timestamp").dt.epoch("us") % HOUR_US == 0
            rows.append(proc.last_rows.filter(on_hour).select(COLUMNS))
    return pl.concat(rows)


def batch_rows_until(streamed: pl.DataFrame) -> pl.DataFrame:
    """The batch pipeline's ``user_short_term`` rows up to the last streamed stamp, sorted."""
    return (
        pl.read_parquet(feature_tables_dir("user_short_term") / "*.parquet")
        .select(COLUMNS)
        .filter(pl.col("event_timestamp") <= streamed["event_timestamp"].max())
        .sort("event_timestamp", "user_id")
    )


def test_stream_rows_equal_the_batch_pipeline(own_root: Path, broker: str, topic: str) -> None:
    events = _log_events()
    sent = publish(events, bootstrap=broker, topic=topic, rows_per_message=997)
    assert sent == -(-events.height // 997)
    with ShortTermProcessor(bootstrap=broker, topic=topic, push=False) as proc:
        streamed = _drain(proc).sort("event_timestamp", "user_id")
    batch = batch_rows_until(streamed)
    assert batch.height > 1_000
    assert streamed.n_unique(["user_id", "event_timestamp"]) == streamed.height
    assert streamed.equals(batch)


def test_a_click_is_visible_in_ranking_features_after_one_poll(
    own_root: Path, broker: str, topic: str
) -> None:
    user, item = 3, 5
    before = sf.ranking_features(user, [item], service="ranker_v2")
    col = "user_short_term__clicks_1h"
    assert before[col].to_list() == [None]  # the built world's rows are far older than the ttl
    now = datetime.now(UTC)
    clicks = pl.DataFrame(
        {
            "user_id": [user] * 3,
            "item_id": [item] * 3,
            "ts": [now - timedelta(minutes=m) for m in (90, 5, 1)],
        }
    )
    publish(events_frame(clicks=clicks), bootstrap=broker, topic=topic)
    t0 = time.perf_counter()
    with ShortTermProcessor(bootstrap=broker, topic=topic) as proc:
        report = proc.poll(2.0)
        after = sf.ranking_features(user, [item], service="ranker_v2")
    elapsed = time.perf_counter() - t0
    assert report.events == 3
    assert report.fresh_rows == 1
    assert after[col].to_list() == [2]  # the click 90 minutes ago is outside the last hour
    assert after["user_short_term__clicks_1d"].to_list() == [3]
    category = pl.read_parquet(events_dir("items") / "*.parquet").filter(pl.col("item_id") == item)[
        "category"
    ]
    assert after["user_short_term__last_clicked_category"].to_list() == category.to_list()
    assert elapsed < 30  # connect + poll + push + read, one process on a loaded machine


def test_a_restarted_processor_resumes_from_its_checkpoint(
    own_root: Path, broker: str, topic: str
) -> None:
    events = _log_events()
    half = events.height // 2
    publish(events.head(half), bootstrap=broker, topic=topic)
    with ShortTermProcessor(bootstrap=broker, topic=topic, group="g", push=False) as proc:
        first = _drain(proc)
    assert (own_root / "stream" / "g.parquet").is_file()
    publish(events.tail(events.height - half), bootstrap=broker, topic=topic)
    with ShortTermProcessor(bootstrap=broker, topic=topic, group="g", push=False) as proc:
        second = _drain(proc)
    with ShortTermProcessor(bootstrap=broker, topic=topic, group="once", push=False) as proc:
        once = _drain(proc)
    resumed = pl.concat([first, second]).sort("event_timestamp", "user_id")
    assert resumed.equals(once.sort("event_timestamp", "user_id"))


@pytest.mark.slow  # ~12 s: waits out the client timeouts of a broker that does not answer
def test_broker_down_and_bad_messages_are_clear_errors(
    own_root: Path, broker: str, topic: str
) -> None:
    down = f"127.0.0.1:{free_port()}"
    with pytest.raises(StreamError, match=rf"bootstrap == '{down}': the broker did not answer"):
        ShortTermProcessor(bootstrap=down, topic=topic)
    with pytest.raises(StreamError, match=rf"bootstrap == '{down}'"):
        publish(_log_events().head(10), bootstrap=down, topic=topic)
    with pytest.raises(StreamError, match="topic == 'nope': not on the broker"):
        ShortTermProcessor(bootstrap=broker, topic="nope")
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": broker})
    p.produce(topic, b"not arrow")
    p.flush(10)
    with ShortTermProcessor(bootstrap=broker, topic=topic, group="bad", push=False) as proc:
        with pytest.raises(StreamError, match=rf"message {topic}\[0\]@0: not an Arrow IPC"):
            proc.poll(2.0)
    assert not (own_root / "stream" / "bad.parquet").exists()  # the checkpoint never moved
