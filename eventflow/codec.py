"""The stored form of an event: our codec, and the record followers see.

We keep our own codec rather than the ``eventsourcing`` library's mapper because events
are pydantic models with stable topics, and the stored state must be JSON a person can read
(``SELECT * FROM languagemate_events_json``). Personal fields are encrypted per subject on
the way in and decrypted (or read as erased) on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification, StoredEvent

from domain.events import DomainEvent, EventMeta, registry
from infra.keystore import PersonalDataCipher


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

    def decode(self) -> DomainEvent:
        return decode(self.topic, self.state, position=self.position, cipher=self.cipher)

    def document(self) -> dict[str, Any]:
        return cast(dict[str, Any], orjson.loads(self.state))


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
    meta = event.meta.model_dump(mode="json", exclude={"position"})
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
