"""Event types, the topic registry, schema upcasting and the stored JSON form (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

import domain.identity
import domain.system
from domain.catalog import catalog
from domain.events import (
    DomainEvent,
    DuplicateEventTopic,
    EventMeta,
    EventRegistry,
    UnknownEventTopic,
    event_id_for,
    registry,
)
from eventflow.codec import decode, encode

AGGREGATE = UUID("3f0a9d4e-8a55-4c55-9a6f-2f6b1c2d3e4f")
CORRELATION = UUID("9b1d2c3e-4f50-4a6b-8c7d-0e1f2a3b4c5d")
KST = timezone(timedelta(hours=9))


@pytest.fixture(autouse=True)
def _throwaway_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Event classes defined by these tests must not leak into the process-wide catalogue."""
    monkeypatch.setattr(registry, "_by_topic", dict(registry._by_topic))


def meta(version: int = 1, **overrides: Any) -> EventMeta:
    fields: dict[str, Any] = {
        "event_id": event_id_for(AGGREGATE, version),
        "aggregate_id": AGGREGATE,
        "version": version,
        "occurred_at": datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        "actor_id": "user-1",
        "correlation_id": CORRELATION,
        **overrides,
    }
    return EventMeta(**fields)


def stored_document(schema_version: int, data: dict[str, Any]) -> bytes:
    """A stored row written by hand, as an older release of the code would have written it."""
    document = {
        "schema_version": schema_version,
        "meta": {
            "event_id": str(event_id_for(AGGREGATE, 1)),
            "aggregate_id": str(AGGREGATE),
            "version": 1,
            "occurred_at": "2024-05-01T09:00:00Z",
            "actor_id": "user-1",
            "correlation_id": str(CORRELATION),
            "causation_id": None,
        },
        "data": data,
    }
    return json.dumps(document).encode()


# --- the registry ------------------------------------------------------------------------


def test_second_class_claiming_a_taken_topic_is_refused_at_definition() -> None:
    class NoteAdded(DomainEvent):
        topic = "unittest.ClaimedTopic1"

        text: str

    with pytest.raises(DuplicateEventTopic, match=r"unittest\.ClaimedTopic1"):

        class OtherNoteAdded(DomainEvent):
            topic = "unittest.ClaimedTopic1"

            body: str

    assert registry.resolve("unittest.ClaimedTopic1") is NoteAdded


def test_same_named_class_from_another_module_cannot_take_over_a_topic() -> None:
    first = type(
        "MessagePosted",
        (DomainEvent,),
        {"__module__": "domain.chat", "__qualname__": "MessagePosted", "topic": "unittest.Posted2"},
    )

    with pytest.raises(DuplicateEventTopic):
        type(
            "MessagePosted",
            (DomainEvent,),
            {
                "__module__": "domain.rooms",
                "__qualname__": "MessagePosted",
                "topic": "unittest.Posted2",
            },
        )

    assert registry.resolve("unittest.Posted2") is first


def test_redefining_the_same_class_keeps_its_topic_registered() -> None:
    """Re-importing a module (reload, test re-runs) must not trip the duplicate check."""
    for _ in range(2):

        class Reloaded(DomainEvent):
            topic = "unittest.Reloaded3"

    assert registry.resolve("unittest.Reloaded3") is Reloaded


@pytest.mark.parametrize(
    "topic",
    ["NoDotHere", "", "domain.identity:AccountRegistered", "unittest:Colon4"],
)
def test_topic_not_shaped_like_context_dot_event_name_is_refused(topic: str) -> None:
    with pytest.raises(ValueError, match=r"context\.EventName"):
        type("BadTopic", (DomainEvent,), {"topic": topic})

    assert topic not in registry


def test_unknown_topic_cannot_be_resolved() -> None:
    with pytest.raises(UnknownEventTopic, match=r"unittest\.NeverDefined5"):
        registry.resolve("unittest.NeverDefined5")


def test_a_fresh_registry_lists_its_event_types_sorted_by_topic() -> None:
    local = EventRegistry()
    local.register(domain.system.CommandHandled)
    local.register(domain.identity.LoggedIn)
    local.register(domain.identity.AccountRegistered)

    assert [cls.topic for cls in local] == [
        "identity.AccountRegistered",
        "identity.LoggedIn",
        "system.CommandHandled",
    ]
    assert "identity.AccountDeactivated" not in local


def test_event_class_without_a_topic_of_its_own_is_not_registered() -> None:
    class AbstractNote(DomainEvent):
        text: str

    assert all(cls is not AbstractNote for cls in registry)


# --- schema versions and upcasting -------------------------------------------------------


def test_v2_event_without_upcast_v1_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match="upcast_v1"):

        class NameChanged(DomainEvent):
            topic = "unittest.NameChanged6"
            schema_version = 2

            full_name: str

    assert "unittest.NameChanged6" not in registry


def test_v3_event_needs_every_earlier_upcaster() -> None:
    with pytest.raises(ValueError, match="upcast_v2"):

        class NameChanged(DomainEvent):
            topic = "unittest.NameChanged7"
            schema_version = 3

            full_name: str

            @staticmethod
            def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
                return data


def test_v1_stored_document_is_read_through_upcast_v1() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged8"
        schema_version = 2

        full_name: str

        @staticmethod
        def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
            return {"full_name": f"{data['first']} {data['last']}"}

    event = decode("unittest.NameChanged8", stored_document(1, {"first": "Kim", "last": "Minji"}))

    assert isinstance(event, NameChanged)
    assert event.full_name == "Kim Minji"
    assert event.meta.actor_id == "user-1"
    assert event.meta.occurred_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_v1_stored_document_passes_through_every_upcaster_in_order() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged9"
        schema_version = 3

        full_name: str
        language: str

        @staticmethod
        def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
            return {"name": f"{data['first']} {data['last']}"}

        @staticmethod
        def upcast_v2(data: dict[str, Any]) -> dict[str, Any]:
            return {"full_name": data["name"], "language": "ko"}

    event = decode("unittest.NameChanged9", stored_document(1, {"first": "Lee", "last": "Jun"}))

    assert event.model_dump(exclude={"meta"}) == {"full_name": "Lee Jun", "language": "ko"}


def test_current_version_document_is_read_without_upcasting() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged10"
        schema_version = 2

        full_name: str

        @staticmethod
        def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
            raise AssertionError("a v2 document must not be upcast")

    event = decode("unittest.NameChanged10", stored_document(2, {"full_name": "Park Hana"}))

    assert isinstance(event, NameChanged)
    assert event.full_name == "Park Hana"


def test_stored_version_newer_than_the_code_is_refused() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged11"

        full_name: str

    with pytest.raises(ValueError, match="newer than code"):
        decode("unittest.NameChanged11", stored_document(2, {"full_name": "Park Hana"}))


def test_stored_field_the_code_no_longer_knows_is_refused_not_dropped() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged12"

        full_name: str

    with pytest.raises(ValidationError, match="nickname"):
        decode(
            "unittest.NameChanged12",
            stored_document(1, {"full_name": "Park Hana", "nickname": "hana"}),
        )


# --- encode / decode -----------------------------------------------------------------------


def test_encode_then_decode_gives_back_the_same_event_with_its_position() -> None:
    class PhraseSaved(DomainEvent):
        topic = "unittest.PhraseSaved13"

        phrase: str
        tags: list[str]

    event = PhraseSaved(
        meta=meta(3, causation_id=uuid4()),
        phrase="안녕하세요, 만나서 반갑습니다",
        tags=["인사", "greeting"],
    )

    stored = encode(event)
    decoded = decode(stored.topic, stored.state, position=42)

    assert decoded == event.with_position(42)
    assert decoded.meta.position == 42
    assert (stored.originator_id, stored.originator_version) == (AGGREGATE, 3)
    assert stored.topic == "unittest.PhraseSaved13"


def test_stored_json_is_readable_utf8_with_korean_text_unescaped() -> None:
    class PhraseSaved(DomainEvent):
        topic = "unittest.PhraseSaved14"

        phrase: str

    stored = encode(PhraseSaved(meta=meta(), phrase="안녕하세요"))

    text = stored.state.decode("utf-8")
    assert "안녕하세요" in text
    assert "\\u" not in text


def test_stored_document_keeps_payload_and_metadata_apart_without_a_position() -> None:
    class PhraseSaved(DomainEvent):
        topic = "unittest.PhraseSaved15"

        phrase: str

    event = PhraseSaved(meta=meta(), phrase="hello").with_position(7)

    document = json.loads(encode(event).state)

    assert set(document) == {"schema_version", "meta", "data"}
    assert document["schema_version"] == 1
    assert document["data"] == {"phrase": "hello"}
    assert "position" not in document["meta"]
    assert document["meta"]["actor_id"] == "user-1"
    assert UUID(document["meta"]["correlation_id"]) == CORRELATION


def test_encoded_v2_event_records_its_schema_version() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged16"
        schema_version = 2

        full_name: str

        @staticmethod
        def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
            return data

    document = json.loads(encode(NameChanged(meta=meta(), full_name="Choi Yuna")).state)

    assert document["schema_version"] == 2


# --- metadata and ids ----------------------------------------------------------------------


def test_event_ids_are_the_same_for_the_same_aggregate_and_version() -> None:
    assert event_id_for(AGGREGATE, 1) == event_id_for(AGGREGATE, 1)


def test_event_ids_differ_across_versions_and_aggregates() -> None:
    ids = {event_id_for(AGGREGATE, 1), event_id_for(AGGREGATE, 2), event_id_for(uuid4(), 1)}

    assert len(ids) == 3


def test_occurred_at_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        meta(occurred_at=datetime(2024, 5, 1, 9, 0))


def test_occurred_at_is_kept_as_the_same_instant_in_utc() -> None:
    seoul_morning = datetime(2024, 5, 1, 18, 0, tzinfo=KST)

    occurred_at = meta(occurred_at=seoul_morning).occurred_at

    assert occurred_at == seoul_morning
    assert occurred_at.utcoffset() == timedelta(0)


def test_version_zero_is_refused() -> None:
    with pytest.raises(ValidationError):
        meta(version=0)


def test_events_are_immutable() -> None:
    event = domain.identity.AccountDeactivated(meta=meta(), reason="spam")

    with pytest.raises(ValidationError):
        event.reason = "changed"  # type: ignore[misc]


# --- schemas and the catalogue -------------------------------------------------------------


def test_payload_schema_describes_the_payload_without_meta() -> None:
    schema = domain.identity.AccountRegistered.payload_schema()

    assert set(schema["properties"]) == {"email", "name", "provider"}
    assert "meta" not in schema["required"]
    assert "$defs" not in schema
    assert "EventMeta" not in json.dumps(schema)


def test_payload_schema_is_titled_by_topic_and_carries_its_version() -> None:
    class NameChanged(DomainEvent):
        topic = "unittest.NameChanged17"
        schema_version = 2

        full_name: str

        @staticmethod
        def upcast_v1(data: dict[str, Any]) -> dict[str, Any]:
            return data

    schema = NameChanged.payload_schema()

    assert schema["title"] == "unittest.NameChanged17"
    assert schema["x-schema-version"] == 2
    assert schema["required"] == ["full_name"]


def test_catalog_lists_every_identity_and_system_event_with_a_json_schema() -> None:
    defined = {
        value.topic
        for module in (domain.identity, domain.system)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and "topic" in vars(value)
    }
    entries = {entry["topic"]: entry for entry in catalog()}

    assert {"identity.AccountRegistered", "system.CommandHandled"} <= defined
    assert defined <= set(entries)
    for topic in defined:
        assert entries[topic]["schemaVersion"] == 1
        assert entries[topic]["schema"]["type"] == "object"
        assert entries[topic]["schema"]["title"] == topic


def test_catalog_is_plain_json() -> None:
    text = json.dumps(catalog(), ensure_ascii=False)

    assert json.loads(text) == catalog()


def test_catalog_describes_an_event_by_its_docstring() -> None:
    entries = {entry["topic"]: entry for entry in catalog()}

    assert entries["identity.LoggedIn"]["description"].startswith("One successful sign-in")
    assert entries["identity.AccountRegistered"]["description"] is None
