"""The two event sources a projector can follow: the notification log and Kafka.

Both hand out ``(partition, events)`` batches of ``RecordedEvent`` in per-partition order,
each event once, and both can be rewound to re-deliver a batch's unapplied tail, so the
projector and policy runners are identical whichever source feeds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from eventflow.codec import RecordedEvent
from eventflow.kafka import (
    PREV_HEADER,
    TICK_HEADER,
    TopicIdentity,
    consumer,
    ensure_topic,
    header,
    trace_headers,
)
from eventflow.log_tail import LogTail
from eventflow.schema import LOG
from eventflow.store import EventStore
from infra.keystore import PersonalDataCipher
from infra.metrics import KAFKA_GAPS
from infra.settings import Settings

log = logging.getLogger(__name__)


class EventSource(Protocol):
    def poll(self, timeout: float) -> list[tuple[int, list[RecordedEvent], int]]:
        """Batches as ``(partition, events, seen_upto)``; ``seen_upto`` may exceed the last
        event when the source knows nothing relevant lies between them."""

    def committed(self, partition: int, events: Sequence[RecordedEvent]) -> None:
        """The given events are durably applied (Kafka: commit their offsets)."""

    def rewind(self, partition: int, unapplied: Sequence[RecordedEvent]) -> None:
        """Deliver these events again on a later poll."""

    def close(self) -> None: ...


class LogSource:
    """Follows the event store's notification log from a tracked position: from the
    process's shared :class:`LogTail` while it is inside the tail's window, else from the
    store itself."""

    def __init__(
        self,
        store: EventStore,
        after: int,
        batch_size: int,
        topics: Sequence[str] = (),
        tail: LogTail | None = None,
    ) -> None:
        self.store = store
        self.after = after
        self.batch_size = batch_size
        self.topics = list(topics)
        self.tail = tail

    def poll(self, timeout: float) -> list[tuple[int, list[RecordedEvent], int]]:
        for attempt in range(2):
            appends = self.store.appends
            served = self.tail.read(self.after, self.batch_size, self.topics) if self.tail else None
            events, seen = served or self.store.page(self.after, self.batch_size, self.topics)
            if events or seen > self.after:
                self.after = seen
                return [(LOG, events, seen)]
            if attempt == 0 and served is not None and self.tail is not None:
                self.tail.wait(self.after, timeout)
            elif attempt == 0:
                self.store.wait_for_append(timeout, since=appends)
        return []

    def committed(self, partition: int, events: Sequence[RecordedEvent]) -> None:
        return None

    def rewind(self, partition: int, unapplied: Sequence[RecordedEvent]) -> None:
        if unapplied:
            self.after = min(self.after, unapplied[0].position - 1)

    def close(self) -> None:
        return None


def _from_record(
    offset: int,
    key: bytes,
    value: bytes,
    headers: list[tuple[str, bytes]],
    cipher: PersonalDataCipher | None,
) -> RecordedEvent:
    return RecordedEvent(
        position=int(header(headers, "position") or b"0"),
        aggregate_id=UUID(key.decode()),
        version=int(header(headers, "aggregate-version") or b"0"),
        topic=(header(headers, "event-type") or b"").decode(),
        state=value,
        offset=offset,
        cipher=cipher,
        trace=trace_headers(headers),
    )


class KafkaSource:
    """Follows ``languagemate.events`` as one member of a consumer group.

    Offsets are committed only after the read-model transaction, and only as a hint: the
    read model's own per-partition tracking decides what is a duplicate, so an offset lost in
    a crash (or a broker that lost its data) leads to skipped re-deliveries, never to events
    applied twice.

    It also refuses to skip: every record names its partition's previous event
    (``prev-position``), and a record whose predecessor lies beyond what this consumer has
    applied means records went missing (its offset points into a log the broker rebuilt
    after losing its data). The partition is then read again from its first offset, and so
    is every partition when the topic's id changes (see :meth:`_check_topic`).

    And it delivers each event once: a record at or below the highest position it has
    delivered on that partition is dropped. Such records are re-sends: a relay stopped
    between publishing a batch and saving its position (a database outage does that) sends
    the batch again, right behind the first copy, and a consumer that was down meanwhile
    reads both copies in one poll. The groups' tracking is read once per batch, so both
    copies would pass it and be applied twice (measured: an account's login undone by its
    registration applied again, its login then parked on a duplicate key).
    """

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        cipher: PersonalDataCipher | None = None,
        *,
        applied: dict[int, int] | None = None,
        identity: TopicIdentity | None = None,
        on_assigned: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.topic = settings.kafka_topic
        self.cipher = cipher
        tracking = applied or {}
        self.seen = {p: max(pos, tracking.get(LOG, 0)) for p, pos in tracking.items()}
        """Partition -> the highest position delivered (or applied before this source)."""
        self.floor = tracking.get(LOG, 0)
        self.identity = identity
        self.topic_id = identity.current() if identity else None
        # Subscribing to a topic that does not exist yet would wait for the next metadata
        # refresh (minutes); creating it first makes start-up order irrelevant.
        ensure_topic(settings)
        self.consumer: KafkaConsumer = consumer(settings, group_id)
        listener = None if on_assigned is None else _Assigned(on_assigned)
        self.consumer.subscribe([self.topic], listener=listener)

    def poll(self, timeout: float) -> list[tuple[int, list[RecordedEvent], int]]:
        self._check_topic()
        records = self.consumer.poll(timeout_ms=int(timeout * 1000))
        batches = []
        for tp, items in records.items():
            events: list[RecordedEvent] = []
            seen_upto = 0
            for r in items:
                headers = list(r.headers or [])
                if self._gap(tp, r.offset, headers):
                    break
                tick = header(headers, TICK_HEADER)
                position = int(tick if tick is not None else header(headers, "position") or 0)
                if position <= self._seen(tp.partition):
                    continue  # delivered already: a re-send (see the class docstring)
                if tick is not None:
                    seen_upto = position
                else:
                    events.append(_from_record(r.offset, r.key, r.value, headers, self.cipher))
                self.seen[tp.partition] = position
            if events or seen_upto:
                batches.append((tp.partition, events, seen_upto))
        return batches

    def _check_topic(self) -> None:
        """Read every partition again when the topic was created anew (its id changed).

        Apache Kafka answers a fetch beyond a shrunk log with OFFSET_OUT_OF_RANGE, but a
        broker that lost its data may simply return nothing, leaving the consumer waiting
        below records that were republished under its old position."""
        if self.identity is None:
            return
        current = self.identity.current()
        if current is None or current == self.topic_id:
            return
        if self.topic_id is not None:
            log.warning(
                "kafka topic %s was created anew (id %s, was %s); reading it from the start",
                self.topic,
                current,
                self.topic_id,
            )
            for tp in self.consumer.assignment():
                KAFKA_GAPS.labels(str(tp.partition)).inc()
                self.consumer.seek_to_beginning(tp)
        self.topic_id = current

    def _seen(self, partition: int) -> int:
        return self.seen.get(partition, self.floor)

    def _gap(self, tp: TopicPartition, offset: int, headers: list[tuple[str, bytes]]) -> bool:
        """True (and the partition rewound to its start) when records before this one are
        missing; the records already taken from this poll stay valid."""
        previous = header(headers, PREV_HEADER)
        if previous is None or int(previous) <= self._seen(tp.partition):
            return False
        log.warning(
            "kafka partition %d: the record at offset %d follows position %s, but only %d was"
            " seen; reading the partition again from its start",
            tp.partition,
            offset,
            previous.decode(),
            self._seen(tp.partition),
        )
        KAFKA_GAPS.labels(str(tp.partition)).inc()
        self.consumer.seek_to_beginning(tp)
        return True

    def committed(self, partition: int, events: Sequence[RecordedEvent]) -> None:
        if events:
            offset = OffsetAndMetadata(events[-1].offset + 1, None, -1)
            self.consumer.commit_async({TopicPartition(self.topic, partition): offset})

    def rewind(self, partition: int, unapplied: Sequence[RecordedEvent]) -> None:
        if unapplied:
            self.consumer.seek(TopicPartition(self.topic, partition), unapplied[0].offset)
            self.seen[partition] = min(self._seen(partition), unapplied[0].position - 1)

    def close(self) -> None:
        self.consumer.close(autocommit=False)


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the group which partitions Kafka handed this consumer: another process may
    have parked events in them. It runs on kafka-python's IO thread at the end of a group
    join, while ``poll`` blocks the runner, so it must be quick and must not call the
    consumer."""

    def __init__(self, heard: Callable[[set[int]], None]) -> None:
        self.heard = heard

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to hand over: a projection batch's progress commits with its writes, and
        a dispatcher's deferred progress is at least once by design (``policies.base``)."""

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.heard({tp.partition for tp in assigned})
