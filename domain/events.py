"""Domain events: one pydantic model per event type, with explicit topics and versions.

Why pydantic models: the same class validates payloads, serialises them to readable JSON for
the store, and yields the JSON Schema that ``languagemate events catalog`` publishes to
analysts. Why explicit topics (``identity.AccountRegistered``) instead of module paths:
renaming or moving code must never orphan stored events.

An event is the payload fields of its subclass plus ``meta`` (who, when, why). The store keeps
``{"schema_version", "meta", "data"}`` as UTF-8 JSON; old schema versions are upcast on read
by ``upcast_vN`` static methods, so stored rows are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Personal:
    """Marks a field as personal data: encrypted at rest with its subject's key."""

    def __repr__(self) -> str:
        return "Personal"


PERSONAL = _Personal()
Personal = Annotated[str, PERSONAL]
ERASED = "[erased]"
"""What a personal field reads as once its subject's key was destroyed."""


class EventMeta(BaseModel):
    """Metadata every event carries. ``position`` is known only once the event is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    aggregate_id: UUID
    version: int = Field(ge=1)
    occurred_at: datetime
    actor_id: str | None = None
    correlation_id: UUID
    causation_id: UUID | None = None
    trace_context: dict[str, str] | None = None
    """The W3C trace context (``traceparent``) of the work that appended the event, when
    tracing was on (``infra.tracing``); older events have none."""
    position: int | None = None

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        return value.astimezone(UTC)


class DomainEvent(BaseModel):
    """Base of every event type. Subclasses declare ``topic`` and their payload fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]
    schema_version: ClassVar[int] = 1
    personal_subject: ClassVar[str | None] = None
    """Field holding the user whose key protects this event's personal fields; ``None``
    means the aggregate itself is that user (accounts, profiles)."""

    meta: EventMeta

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "topic" in cls.__dict__:
            registry.register(cls)

    @property
    def aggregate_id(self) -> UUID:
        return self.meta.aggregate_id

    @property
    def version(self) -> int:
        return self.meta.version

    def payload(self) -> dict[str, Any]:
        """The event's own fields as JSON-compatible data (no metadata)."""
        return self.model_dump(mode="json", exclude={"meta"})

    @classmethod
    def personal_fields(cls) -> tuple[str, ...]:
        return _personal_fields(cls)

    def subject(self) -> str:
        if self.personal_subject is None:
            return str(self.meta.aggregate_id)
        return str(getattr(self, self.personal_subject))

    def with_position(self, position: int) -> Self:
        return self.model_copy(update={"meta": self.meta.model_copy(update={"position": position})})

    @classmethod
    def payload_schema(cls) -> dict[str, Any]:
        schema = cls.model_json_schema(mode="serialization")
        schema["properties"].pop("meta", None)
        schema["required"] = [r for r in schema.get("required", []) if r != "meta"]
        defs = schema.get("$defs", {})
        defs.pop("EventMeta", None)
        if not defs:
            schema.pop("$defs", None)
        for name in cls.personal_fields():
            schema["properties"][name]["x-personal"] = True
        schema["title"] = cls.topic
        schema["x-schema-version"] = cls.schema_version
        return schema


@cache
def _personal_fields(cls: type[DomainEvent]) -> tuple[str, ...]:
    return tuple(
        name
        for name, info in cls.model_fields.items()
        if any(isinstance(m, _Personal) for m in info.metadata)
    )


def event_id_for(aggregate_id: UUID, version: int) -> UUID:
    """Event ids are derived from (aggregate, version), which the store already keeps unique.

    Deterministic ids make an exported and re-imported history byte-identical, and keep the
    domain free of random number generation.
    """
    return uuid5(aggregate_id, str(version))


class UnknownEventTopic(LookupError):
    pass


class DuplicateEventTopic(ValueError):
    pass


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Topic -> event class, refusing duplicates so two classes can never claim one topic."""

    def __init__(self) -> None:
        self._by_topic: dict[str, type[DomainEvent]] = {}

    def register(self, cls: type[DomainEvent]) -> None:
        topic = cls.topic
        if not topic or "." not in topic or ":" in topic:
            raise ValueError(f"{cls.__qualname__}: topic must look like 'context.EventName'")
        existing = self._by_topic.get(topic)
        same_class = existing is not None and (existing.__module__, existing.__qualname__) == (
            cls.__module__,
            cls.__qualname__,
        )
        if existing is not None and not same_class:
            raise DuplicateEventTopic(
                f"topic {topic!r} is already registered by {existing.__module__}."
                f"{existing.__qualname__}"
            )
        for version in range(1, cls.schema_version):
            if not callable(getattr(cls, f"upcast_v{version}", None)):
                raise ValueError(f"{topic}: schema v{cls.schema_version} needs upcast_v{version}")
        self._by_topic[topic] = cls

    def resolve(self, topic: str) -> type[DomainEvent]:
        try:
            return self._by_topic[topic]
        except KeyError:
            raise UnknownEventTopic(topic) from None

    def __contains__(self, topic: object) -> bool:
        return topic in self._by_topic

    def __iter__(self) -> Iterator[type[DomainEvent]]:
        return iter(sorted(self._by_topic.values(), key=lambda c: c.topic))

    def upcast(self, cls: type[DomainEvent], data: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring a stored payload from ``version`` up to the class's current schema version."""
        if version > cls.schema_version:
            raise ValueError(
                f"{cls.topic}: stored v{version} is newer than code v{cls.schema_version}"
            )
        while version < cls.schema_version:
            upcaster: Upcaster = getattr(cls, f"upcast_v{version}")
            data = upcaster(data)
            version += 1
        return data


registry = EventRegistry()
