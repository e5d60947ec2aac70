"""The aggregate base: decide with a method, record an event, evolve by applying it.

Aggregates never read the clock or generate ids: everything that varies comes in through a
``Cause`` (who acts, when, in answer to what), so every rule is testable without mocks and a
replay reproduces exactly the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

from domain.events import DomainEvent, EventMeta, event_id_for

E = TypeVar("E", bound=DomainEvent)
Applier = Callable[[Any, Any], None]


@dataclass(frozen=True)
class Cause:
    """Why an event happens: the actor, the time, and the message chain it belongs to."""

    occurred_at: datetime
    correlation_id: UUID
    actor_id: str | None = None
    causation_id: UUID | None = None
    trace_context: dict[str, str] | None = None
    """The trace the work belongs to, as W3C text headers; ``None`` when not traced."""


def applies(*event_types: type[DomainEvent]) -> Callable[[Applier], Applier]:
    """Mark an aggregate method as the one that folds these event types into state."""

    def mark(method: Applier) -> Applier:
        method.__applies__ = event_types  # type: ignore[attr-defined]
        return method

    return mark


class Aggregate:
    """State rebuilt from events; new events are kept in ``pending`` until saved."""

    _appliers: ClassVar[dict[type[DomainEvent], Applier]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        appliers: dict[type[DomainEvent], Applier] = {}
        for base in reversed(cls.__mro__):
            for attr in vars(base).values():
                for event_type in getattr(attr, "__applies__", ()):
                    appliers[event_type] = attr
        cls._appliers = appliers

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    @classmethod
    def handled_events(cls) -> tuple[type[DomainEvent], ...]:
        return tuple(cls._appliers)

    @classmethod
    def replay(cls, aggregate_id: UUID, events: Iterable[DomainEvent]) -> Self | None:
        """Rebuild from history; ``None`` when there is no history."""
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate._apply(event)
        return aggregate if aggregate.version else None

    def _record(self, event_type: type[E], cause: Cause, **payload: Any) -> E:
        version = self.version + 1
        meta = EventMeta(
            event_id=event_id_for(self.id, version),
            aggregate_id=self.id,
            version=version,
            occurred_at=cause.occurred_at,
            actor_id=cause.actor_id,
            correlation_id=cause.correlation_id,
            causation_id=cause.causation_id,
            trace_context=cause.trace_context,
        )
        event = event_type(meta=meta, **payload)
        self._apply(event)
        self.pending.append(event)
        return event

    def _apply(self, event: DomainEvent) -> None:
        if event.meta.aggregate_id != self.id:
            raise ValueError(f"{type(self).__name__} {self.id}: event of {event.meta.aggregate_id}")
        if event.meta.version != self.version + 1:
            raise ValueError(
                f"{type(self).__name__} {self.id}: event v{event.meta.version} "
                f"does not follow v{self.version}"
            )
        applier = self._appliers.get(type(event))
        if applier is None:
            raise TypeError(f"{type(self).__name__} cannot apply {event.topic}")
        applier(self, event)
        self.version = event.meta.version

    def collect(self) -> list[DomainEvent]:
        """Hand over the pending events (once) for saving."""
        events, self.pending = self.pending, []
        return events
