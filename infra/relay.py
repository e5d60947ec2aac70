"""The relay: publish every stored event, in global order, to the Kafka events topic.

At-least-once by construction: a batch is sent and flushed (acknowledged by the broker)
before its last position is saved, so a crash at any instant re-sends at most one batch on
restart. Consumers de-duplicate by position, so re-sends are harmless; losses are impossible.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

from kafka import KafkaProducer

from infra.event_store import EventStore, RecordedEvent
from infra.kafka import TICK_HEADER, ensure_topic, partition_for, producer
from infra.metrics import RELAY_LAG, RELAY_POSITION, RELAY_PUBLISHED
from infra.settings import Settings

log = logging.getLogger(__name__)
POSITION_TABLE = "languagemate_relay_position"
TICK_SECONDS = 1.0
"""Partitions are ticked at most this often: every tick costs every consumer group a
tracking write per partition, so ticking after each small batch swamped a busy system."""


class RelayPosition:
    """The relay's last published position, kept in the event-store database."""

    def __init__(self, store: EventStore, name: str) -> None:
        self.datastore = store.recorder.datastore  # type: ignore[attr-defined]
        self.name = name
        self.postgres = store.postgres
        text_type = "TEXT" if not self.postgres else "text"
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {POSITION_TABLE} "
                f"(name {text_type} PRIMARY KEY, position BIGINT NOT NULL)"
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

    def save(self, position: int) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._sql(
                    f"INSERT INTO {POSITION_TABLE} (name, position) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
                ),
                (self.name, position),
            )


class Relay:
    def __init__(self, store: EventStore, settings: Settings, name: str = "kafka") -> None:
        self.store = store
        self.settings = settings
        self.position = RelayPosition(store, name)
        self._producer: KafkaProducer | None = None
        self.ticked = 0
        self.last_tick = 0.0

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            ensure_topic(self.settings)
            self._producer = producer(self.settings)
        return self._producer

    def publish(self, events: list[RecordedEvent]) -> None:
        topic = self.settings.kafka_topic
        partitions = self.settings.kafka_partitions
        send = self.producer.send
        for event in events:
            document = event.document()
            meta = document["meta"]
            key = str(event.aggregate_id).encode()
            send(
                topic,
                key=key,
                value=event.state,
                partition=_partition(key, partitions),
                headers=[
                    ("event-type", event.topic.encode()),
                    ("schema-version", str(document["schema_version"]).encode()),
                    ("position", str(event.position).encode()),
                    ("aggregate-version", str(event.version).encode()),
                    ("correlation-id", (meta.get("correlation_id") or "").encode()),
                    ("causation-id", (meta.get("causation_id") or "").encode()),
                ],
            )
        self.producer.flush()

    def tick(self, position: int) -> None:
        """Tell every partition that all events up to ``position`` are published.

        A partition that received nothing lately otherwise looks behind forever, and a
        question like "has every event up to P been applied?" (sync cursors) could never be
        answered yes; after a tick, its consumers count as having seen up to ``position``.
        """
        for partition in range(self.settings.kafka_partitions):
            self.producer.send(
                self.settings.kafka_topic,
                value=b"",
                partition=partition,
                headers=[(TICK_HEADER, str(position).encode())],
            )
        self.producer.flush()
        self.ticked, self.last_tick = position, time.monotonic()

    def step(self, after: int) -> int:
        """Publish the next batch after ``after``; returns the new position."""
        events = self.store.read(after, self.settings.relay_batch_size)
        if not events:
            return after
        self.publish(events)
        last = events[-1].position
        self.position.save(last)
        RELAY_PUBLISHED.inc(len(events))
        RELAY_POSITION.set(last)
        # A short read means the relay reached the head; only a full one needs a count.
        full = len(events) == self.settings.relay_batch_size
        RELAY_LAG.set(max(self.store.max_position() - last, 0) if full else 0)
        return last

    def run(self, stop: threading.Event) -> None:
        after = self.position.load()
        log.info("relay starting after position %d", after)
        ensure_topic(self.settings)
        while not stop.is_set():
            new = self.step(after)
            if new > self.ticked and time.monotonic() - self.last_tick >= TICK_SECONDS:
                self.tick(new)
            if new == after:
                self.store.wait_for_append(self.settings.projection_poll_seconds)
            after = new
        self.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None


@lru_cache(maxsize=65536)
def _partition(key: bytes, partitions: int) -> int:
    return partition_for(key, partitions)
