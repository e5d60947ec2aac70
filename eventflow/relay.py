"""The relay: publish every stored event, in global order, to the Kafka events topic.

At-least-once by construction: a batch is sent and flushed (acknowledged by the broker)
before its last position is saved, so a crash at any instant re-sends at most one batch on
restart. Consumers de-duplicate by position, so re-sends are harmless; losses are impossible.

A broker that loses its data (a restart with memory storage, a topic deleted by mistake) is
detected, not trusted. The relay remembers, per partition, the topic's id (KIP-516: a topic
created again gets a new one) and a floor for the partition's end offset after its last
acknowledged batch; when the id changed or the broker reports less than the floor, it
republishes the whole history from position 0. Each record also names the previous event's
position on its partition (header ``prev-position``), so a consumer that resumes at an offset
into the new, shorter log notices the gap and re-reads the partition instead of skipping.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.producer.future import FutureRecordMetadata
from opentelemetry.trace import SpanKind

from eventflow.codec import RecordedEvent
from eventflow.kafka import (
    PREV_HEADER,
    TICK_HEADER,
    UNMETERED,
    TopicIdentity,
    ensure_topic,
    partition_for,
    producer,
)
from eventflow.store import EventStore
from infra import tracing
from infra.metrics import RELAY_LAG, RELAY_POSITION, RELAY_PUBLISHED, RELAY_REPUBLISHED
from infra.settings import Settings

log = logging.getLogger(__name__)
POSITION_TABLE = "languagemate_relay_position"
PARTITIONS_TABLE = "languagemate_relay_partitions"
CHECK_SECONDS = 5.0
"""How often a running relay asks the broker whether it still holds what was published
(also checked at start and after every publishing error)."""
TICK_SECONDS = 1.0
"""Partitions are ticked at most this often: every tick costs every consumer group a
tracking write per partition, so ticking after each small batch swamped a busy system."""


@dataclass(frozen=True)
class PartitionMark:
    """What the relay last published to one partition: the last event's position, the
    least end offset the partition can have once that batch was acknowledged, and the id
    of the topic those offsets belong to.

    The floor is the offset of the first record of the last flush plus one, not of its last
    record: Tansu reports a partition's end as its last record *batch*'s base offset plus
    one (measured: ten records in one batch, end offset 1)."""

    last_position: int
    end_offset: int
    topic_id: str = ""


MarkChanges = tuple[list[tuple[str, int]], list[tuple[str, int, int, int, str]]]
"""Rows to delete ``(name, partition)`` and to upsert ``(name, partition, last position, end
offset, topic id)``."""


class RelayPosition:
    """The relay's last published position and per-partition marks, kept in the
    event-store database (saved together, in one transaction)."""

    def __init__(self, store: EventStore, name: str) -> None:
        self.datastore = store.recorder.datastore  # type: ignore[attr-defined]
        self.name = name
        self._saved: dict[int, PartitionMark] | None = None
        """The marks as last read or saved (this relay is their only writer)."""
        self.postgres = store.postgres
        text_type = "TEXT" if not self.postgres else "text"
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {POSITION_TABLE} "
                f"(name {text_type} PRIMARY KEY, position BIGINT NOT NULL)"
            )
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {PARTITIONS_TABLE} "
                f"(name {text_type} NOT NULL, partition INTEGER NOT NULL, "
                "last_position BIGINT NOT NULL, end_offset BIGINT NOT NULL, "
                f"topic_id {text_type} NOT NULL, PRIMARY KEY (name, partition))"
            )

    def _sql(self, statement: str) -> str:
        return statement if self.postgres else statement.replace("%s", "?")

    def load(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(f"SELECT position FROM {POSITION_TABLE} WHERE name = %s"), (self.name,)
            )
            row = curs.fetchone()
        if row is None:
            return 0
        return int(row["position"])

    def marks(self) -> dict[int, PartitionMark]:
        """The saved marks (and, from now on, what :meth:`save` compares against)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                self._sql(
                    "SELECT partition, last_position, end_offset, topic_id "
                    f"FROM {PARTITIONS_TABLE} "
                    "WHERE name = %s"
                ),
                (self.name,),
            )
            rows = curs.fetchall()
        self._saved = {
            int(r["partition"]): PartitionMark(
                int(r["last_position"]), int(r["end_offset"]), r["topic_id"]
            )
            for r in rows
        }
        return dict(self._saved)

    def save(self, position: int, marks: dict[int, PartitionMark] | None = None) -> None:
        """Record ``position`` and, when given, make the saved partition marks ``marks``.

        Only the marks that differ from the last saved ones are written (a batch usually
        touches one or two partitions): rewriting every partition's row after every batch
        was most of the relay's statements under chat load."""
        changes = None if marks is None else self._changes(marks)
        try:
            self._write(position, changes)
        except BaseException:
            self._saved = None  # the commit may or may not have happened: read them again
            raise
        if marks is not None:
            self._saved = dict(marks)

    def _changes(self, marks: dict[int, PartitionMark]) -> MarkChanges:
        """What takes the saved marks to ``marks``."""
        saved = self._saved if self._saved is not None else self.marks()
        gone = [(self.name, p) for p in sorted(saved.keys() - marks.keys())]
        changed = [
            (self.name, p, m.last_position, m.end_offset, m.topic_id)
            for p, m in sorted(marks.items())
            if saved.get(p) != m
        ]
        return gone, changed

    def _write(self, position: int, changes: MarkChanges | None) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql(
                    f"INSERT INTO {POSITION_TABLE} (name, position) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
                ),
                (self.name, position),
            )
            gone, changed = changes or ([], [])
            if gone:
                curs.executemany(
                    self._sql(f"DELETE FROM {PARTITIONS_TABLE} WHERE name = %s AND partition = %s"),
                    gone,
                )
            if changed:
                curs.executemany(
                    self._sql(
                        f"INSERT INTO {PARTITIONS_TABLE} "
                        "(name, partition, last_position, end_offset, topic_id) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name, partition) DO UPDATE "
                        "SET last_position = excluded.last_position, "
                        "end_offset = excluded.end_offset, topic_id = excluded.topic_id"
                    ),
                    changed,
                )


class Relay:
    def __init__(self, store: EventStore, settings: Settings, name: str = "kafka") -> None:
        self.store = store
        self.settings = settings
        self.position = RelayPosition(store, name)
        self.marks = self.position.marks()
        self.topic = TopicIdentity(settings, max_age=0.0)
        self._producer: KafkaProducer | None = None
        self._offsets: KafkaConsumer | None = None
        self.ticked = 0
        self.last_tick = 0.0
        self.checked_at = 0.0
        self.behind = False
        """The last read was a full batch: more events may be waiting."""
        self.published_at = float("-inf")
        """When the last batch that held events was acknowledged (monotonic)."""

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            ensure_topic(self.settings)
            self._producer = producer(self.settings)
        return self._producer

    def _previous(self, partition: int) -> int:
        mark = self.marks.get(partition)
        return mark.last_position if mark else 0

    def _send(
        self,
        partition: int,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        previous: int,
    ) -> FutureRecordMetadata:
        """Send one record to ``partition``, naming the partition's previous event."""
        headers.append((PREV_HEADER, str(previous).encode()))
        return self.producer.send(
            self.settings.kafka_topic, key=key, value=value, partition=partition, headers=headers
        )

    def _send_traced(
        self,
        event: RecordedEvent,
        partition: int,
        key: bytes,
        headers: list[tuple[str, bytes]],
        *,
        previous: int,
        traced: tracing.Carrier,
    ) -> FutureRecordMetadata:
        """Send a traced event under a producer span (a child of the span that appended
        it); the record's ``traceparent`` names that span, or the appending one when this
        process does not trace, so the trace goes on in the consumers either way."""
        attributes = {"messaging.system": "kafka", "messaging.destination.name":
                      self.settings.kafka_topic, "languagemate.event_type": event.topic,
                      "languagemate.position": event.position}  # fmt: skip
        with tracing.span(f"publish {event.topic}", parent_context=traced, kind=SpanKind.PRODUCER,
                          attributes=attributes):  # fmt: skip
            context = tracing.carrier() or traced
            headers.extend((name, value.encode()) for name, value in context.items())
            return self._send(partition, key, event.state, headers, previous)

    def _acknowledged(self, first: dict[int, FutureRecordMetadata], last: dict[int, int]) -> None:
        """Flush, then mark each partition: its last event and its end-offset floor (from
        the flush's first record there, see :class:`PartitionMark`)."""
        self.producer.flush()
        topic_id = self.topic.current() or ""
        for partition, future in first.items():
            offset = future.get(timeout=0).offset
            position = last.get(partition, self._previous(partition))
            self.marks[partition] = PartitionMark(position, offset + 1, topic_id)

    def publish(self, events: list[RecordedEvent]) -> None:
        partitions = self.settings.kafka_partitions
        first: dict[int, FutureRecordMetadata] = {}
        last: dict[int, int] = {}
        for event in events:
            document = event.document()
            meta = document["meta"]
            key = str(event.aggregate_id).encode()
            partition = _partition(key, partitions)
            headers = [
                ("event-type", event.topic.encode()),
                ("schema-version", str(document["schema_version"]).encode()),
                ("position", str(event.position).encode()),
                ("aggregate-version", str(event.version).encode()),
                ("correlation-id", (meta.get("correlation_id") or "").encode()),
                ("causation-id", (meta.get("causation_id") or "").encode()),
            ]
            previous = last.get(partition, self._previous(partition))
            traced = tracing.of_event(meta)
            if traced is None:
                future = self._send(partition, key, event.state, headers, previous)
            else:
                future = self._send_traced(
                    event, partition, key, headers, previous=previous, traced=traced
                )
            first.setdefault(partition, future)
            last[partition] = event.position
        self._acknowledged(first, last)

    def tick(self, position: int) -> None:
        """Tell every partition that all events up to ``position`` are published.

        A partition that received nothing lately otherwise looks behind forever, and a
        question like "has every event up to P been applied?" (sync cursors) could never be
        answered yes; after a tick, its consumers count as having seen up to ``position``.
        """
        first = {
            partition: self._send(
                partition,
                None,
                b"",
                [(TICK_HEADER, str(position).encode())],
                self._previous(partition),
            )
            for partition in range(self.settings.kafka_partitions)
        }
        # Their offsets are saved with the next batch; until then the check expects less.
        self._acknowledged(first, {})
        self.ticked, self.last_tick = position, time.monotonic()

    def step(self, after: int) -> int:
        """Publish the next batch after ``after``; returns the new position."""
        events = self.store.read(after, self.settings.relay_batch_size)
        self.behind = len(events) == self.settings.relay_batch_size
        if not events:
            return after
        self.publish(events)
        self.published_at = time.monotonic()
        last = events[-1].position
        self.position.save(last, self.marks)
        RELAY_PUBLISHED.inc(len(events))
        RELAY_POSITION.set(last)
        # A short read means the relay reached the head; only a full one needs a count.
        RELAY_LAG.set(max(self.store.max_position() - last, 0) if self.behind else 0)
        return last

    def _window_left(self) -> float:
        """How long appends may still gather after the last batch that held events (<= 0:
        read now). Under load the appends of a window then share one read, flush and save;
        a relay that published nothing lately reads at once, so a lone event is not delayed."""
        return self.published_at + self.settings.relay_batch_window_seconds - time.monotonic()

    def lost_partitions(self) -> dict[int, str]:
        """Partitions whose acknowledged records the broker no longer holds, each with the
        reason; empty while the broker keeps its data."""
        if not self.marks:
            return {}
        topic_id = self.topic.current()
        recreated = {
            partition: f"topic id {mark.topic_id} is now {topic_id}"
            for partition, mark in self.marks.items()
            if mark.topic_id and topic_id and mark.topic_id != topic_id
        }
        if recreated:
            return recreated
        if self._offsets is None:
            self._offsets = KafkaConsumer(
                **UNMETERED,
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id="languagemate-relay-check",
                group_id=None,
                request_timeout_ms=10_000,
            )
        name = self.settings.kafka_topic
        existing = self._offsets.partitions_for_topic(name) or set()
        wanted = [TopicPartition(name, p) for p in self.marks if p in existing]
        ends = {tp.partition: end for tp, end in self._offsets.end_offsets(wanted).items()}
        return {
            partition: f"end offset {ends.get(partition, 0)} < {mark.end_offset}"
            for partition, mark in self.marks.items()
            if ends.get(partition, 0) < mark.end_offset
        }

    def verified(self, after: int) -> int:
        """``after``, or 0 when the broker lost records: then the whole history is sent
        again (consumers drop what they already applied, by position)."""
        self.checked_at = time.monotonic()
        lost = self.lost_partitions()
        if not lost:
            return after
        log.warning(
            "the broker lost acknowledged records (%s); republishing every event from position 0",
            lost,
        )
        RELAY_REPUBLISHED.inc()
        self.close()  # an idempotent producer's session died with the broker's state
        self.marks = {}
        self.position.save(0, self.marks)
        self.ticked = 0
        return 0

    def run(self, stop: threading.Event) -> None:
        try:
            self.marks = self.position.marks()
            after = self.position.load()
            log.info("relay starting after position %d", after)
            ensure_topic(self.settings)
            after = self.verified(after)
            while not stop.is_set():
                if stop.wait(self._window_left()):
                    break
                appends = self.store.appends
                new = self.step(after)
                if new > self.ticked and time.monotonic() - self.last_tick >= TICK_SECONDS:
                    self.tick(new)
                if not self.behind:
                    # A short read reached the head: the next append wakes the relay (see
                    # ``LogTail._read_more``), so it does not read again to find nothing.
                    wait = self.settings.projection_poll_seconds
                    self.store.wait_for_append(wait, since=appends)
                if time.monotonic() - self.checked_at >= CHECK_SECONDS:
                    new = self.verified(new)
                after = new
        finally:
            # Also after a crash: the guarded restart must begin with a fresh producer and
            # the saved marks, never with a half-flushed batch's state.
            self.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        self.topic.close()


@lru_cache(maxsize=65536)
def _partition(key: bytes, partitions: int) -> int:
    return partition_for(key, partitions)
