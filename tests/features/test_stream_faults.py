"""The broker killed while events arrive (issue 17, "bad input and faults").

A real Tansu broker of its own on loopback, SIGKILLed mid-stream. What must hold: a publish to
a dead broker raises and counts what was and was not delivered (events in = delivered +
reported failed, nothing dropped silently); the processor neither pushes nor checkpoints past
what it has not consumed whole; after a restart (Tansu keeps topics in memory: the restarted
broker is empty, so the events are published again) a re-run gives the batch pipeline's rows.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from shoplab.features.stream import (
    PublishError,
    ShortTermProcessor,
    StreamError,
    create_topic,
    local_broker,
    publish,
)
from tests.features.test_stream import (  # noqa: F401
    _drain,
    _log_events,
    batch_rows_until,
    own_root,
)


@pytest.mark.stream
@pytest.mark.slow  # ~26 s: two brokers, the log published twice, one drain with pushes
def test_broker_killed_while_events_arrive_then_a_rerun_equals_the_batch(
    own_root: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    events = _log_events()
    half = events.height // 2
    with local_broker(tmp_path / "a") as broker:
        create_topic(broker.bootstrap, "events")
        publish(events.head(half), bootstrap=broker.bootstrap, topic="events")
        proc = ShortTermProcessor(bootstrap=broker.bootstrap, topic="events", group="g")
        try:
            assert proc.run_until_idle(timeout_s=0.5)
            saved = proc.checkpoint.read_bytes()
            # killed while the second half is being published, one small message at a time
            killer = threading.Timer(0.3, broker.process.send_signal, [signal.SIGKILL])
            killer.start()
            with pytest.raises(PublishError, match="not delivered") as caught:
                publish(
                    events.tail(events.height - half),
                    bootstrap=broker.bootstrap,
                    topic="events",
                    rows_per_message=5,
                    timeout_s=3.0,
                )
            killer.join()
            err = caught.value
            assert err.failed > 0
            assert err.delivered + err.failed == err.sent == -(-(events.height - half) // 5)
            assert err.events_delivered + err.events_failed == events.height - half
            assert broker.bootstrap in str(err)
            # the processor: what arrived before the kill is consumed whole, nothing more
            t0 = time.monotonic()
            reports = [proc.poll(0.5) for _ in range(4)]
            assert time.monotonic() - t0 < 30
            consumed = sum(r.events for r in reports)
            assert consumed <= err.events_delivered
            if consumed == 0:
                assert proc.checkpoint.read_bytes() == saved  # nothing new: nothing advanced
            with pytest.raises(StreamError, match=rf"bootstrap == '{broker.bootstrap}'"):
                publish(events.head(10), bootstrap=broker.bootstrap, topic="events")
        finally:
            proc.close()
    with local_broker(tmp_path / "b") as broker:  # restarted: empty, so publish again
        create_topic(broker.bootstrap, "events")
        # the old checkpoint is ahead of the empty log: refused, not silently skipping events
        with pytest.raises(StreamError, match=r"events\[0\] offset == \d+, must be <= the broker"):
            ShortTermProcessor(bootstrap=broker.bootstrap, topic="events", group="g")
        assert publish(events, bootstrap=broker.bootstrap, topic="events", rows_per_message=997)
        with ShortTermProcessor(
            bootstrap=broker.bootstrap, topic="events", group="rerun", push=False
        ) as rerun:
            streamed = _drain(rerun).sort("event_timestamp", "user_id")
    batch = batch_rows_until(streamed)
    assert batch.height > 1_000
    assert streamed.equals(batch)
