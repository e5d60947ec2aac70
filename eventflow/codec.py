"""The stored form of an event: our codec, and the record followers see.

We keep our own codec rather than the ``eventsourcing`` library's mapper because events
are pydantic models with stable topics, and the stored state must be JSON a person can read
(``SELECT * FROM languagemate_events_json``). Personal fields are encrypted per subject on
the way in and decrypted (or read as erased) on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, StoredEvent
from opentelemetry.trace import SpanKind

from domain.events import DomainEvent, EventMeta, registry
from infra import tracing
from infra.keystore import PersonalDataCipher

_TRACED = b'"trace_context"'


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event as followers see it: position, topic and the raw JSON, decoded lazily.

    Followers filter by topic before paying for decoding, and the relay forwards ``state``
    to Kafka unchanged.
    """

    position: int
    aggregate_id: UUID
    version: int
    topic: str
    state: bytes
    offset: int = -1
    """Kafka offset when the event came from Kafka (-1 from the notification log)."""

    cipher: PersonalDataCipher | None = field(default=None, compare=False, repr=False)
    trace: tracing.Carrier | None = field(default=None, compare=False, repr=False)
    """The Kafka record's trace headers (the relay's span), when it came with some."""

    def decode(self) -> DomainEvent:
        return decode(self.topic, self.state, position=self.position, cipher=self.cipher)

    def trace_context(self) -> tracing.Carrier | None:
        """The trace the event continues: the relay's record headers, else the context
        stored in its metadata (a cheap byte test first: untraced events are not parsed)."""
        if self.trace:
            return self.trace
        if _TRACED not in self.state:
            return None
        return tracing.of_event(self.document()["meta"])

    def document(self) -> dict[str, Any]:
        return cast(dict[str, Any], orjson.loads(self.state))


def batch_span(
    name: str, events: Sequence[RecordedEvent], attributes: dict[str, Any]
) -> AbstractContextManager[Any]:
    """A span for one batch of a follower: a child of the first traced event's context and
    linked to the others', since one batch serves many requests. No span when tracing is
    off or none of the events was traced (nothing to continue)."""
    if not tracing.enabled():
        return nullcontext()
    carriers = [c for e in events if (c := e.trace_context())]
    if not carriers:
        return nullcontext()
    return tracing.span(name, parent_context=carriers[0], kind=SpanKind.CONSUMER,
                        attributes={**attributes, "languagemate.batch.events": len(events)},
                        links=carriers[1:])  # fmt: skip


def warm_keys(events: Sequence[RecordedEvent]) -> None:
    """Fetch the data keys a batch of events will need, in one query."""
    subjects: set[str] = set()
    cipher = None
    for event in events:
        if event.cipher is None or event.topic not in registry:
            continue
        cls = registry.resolve(event.topic)
        if not cls.personal_fields():
            continue
        cipher = event.cipher
        if cls.personal_subject is None:
            subjects.add(str(event.aggregate_id))
        else:
            subjects.add(str(event.document()["data"].get(cls.personal_subject)))
    if cipher is not None and subjects:
        cipher.keys.prefetch(subjects)


def encode(event: DomainEvent, cipher: PersonalDataCipher | None = None) -> StoredEvent:
    # Untraced events keep the shape events had before tracing existed.
    unset = {"position"} if event.meta.trace_context else {"position", "trace_context"}
    meta = event.meta.model_dump(mode="json", exclude=unset)
    data = event.payload()
    personal = event.personal_fields()
    if personal:
        if cipher is None:
            raise ValueError(f"{event.topic} carries personal data and no cipher was given")
        subject = event.subject()
        for name in personal:
            if data[name]:
                data[name] = cipher.encrypt(subject, data[name])
    document = {"schema_version": event.schema_version, "meta": meta, "data": data}
    state = orjson.dumps(document)
    return StoredEvent(
        originator_id=event.meta.aggregate_id,
        originator_version=event.meta.version,
        topic=event.topic,
        state=state,
    )


def decode(
    topic: str,
    state: bytes,
    *,
    position: int | None = None,
    cipher: PersonalDataCipher | None = None,
) -> DomainEvent:
    """Stored JSON -> event. Personal fields are decrypted with ``cipher``; without one (an
    analyst's tool) they stay ciphertext, and with a destroyed key they read as erased."""
    cls = registry.resolve(topic)
    document = orjson.loads(state)
    data = registry.upcast(cls, document["data"], int(document["schema_version"]))
    meta = EventMeta.model_validate({**document["meta"], "position": position})
    personal = cls.personal_fields()
    if personal and cipher is not None:
        subject = (
            str(data[cls.personal_subject]) if cls.personal_subject else str(meta.aggregate_id)
        )
        for name in personal:
            if isinstance(data.get(name), str):
                data[name] = cipher.decrypt(subject, data[name])
    return cls.model_validate({**data, "meta": meta})


def recorded(n: Notification, cipher: PersonalDataCipher | None) -> RecordedEvent:
    return RecordedEvent(
        position=n.id,
        aggregate_id=cast(UUID, n.originator_id),
        version=n.originator_version,
        topic=n.topic,
        state=n.state,
        cipher=cipher,
    )
