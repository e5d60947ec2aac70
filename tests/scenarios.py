"""Given events, when a command, then events or an error: the harness for testing
commands on their own (no HTTP, no read models), against a real event store.

    def test_...(scenario: Scenario) -> None:
        scenario.given(profile_events(user, lambda p, c: p.set_native_language(c, 1)))
        events = scenario.when(cmd.set_bio, cmd.SetBio(user_id=user, bio="hi"))
        assert [type(e) for e in events] == [SelfBioSet]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from commands.base import Command, CommandBus, CommandContext, Outcome
from devservices.settings import make_settings
from domain.aggregate import Aggregate, Cause
from domain.errors import DomainError
from domain.events import DomainEvent
from eventflow.store import EventStore, open_event_store

A = TypeVar("A", bound=Aggregate)
C = TypeVar("C", bound=Command)
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def cause(actor: str | None = None) -> Cause:
    return Cause(occurred_at=NOW, correlation_id=uuid4(), actor_id=actor)


def history(cls: type[A], aggregate_id: UUID, *steps: Callable[[A, Cause], None],
            prepare: Callable[[A], None] | None = None) -> list[DomainEvent]:  # fmt: skip
    """The events ``steps`` record on a fresh aggregate (what ``given`` stores)."""
    aggregate = cls(aggregate_id)
    if prepare is not None:
        prepare(aggregate)
    for step in steps:
        step(aggregate, cause())
    return list(aggregate.collect())


class Scenario:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.bus = CommandBus(store, clock=lambda: NOW)

    def given(self, *events: Sequence[DomainEvent]) -> None:
        for batch in events:
            self.store.append(list(batch))

    def when(
        self,
        handler: Callable[[CommandBus, CommandContext, C], Outcome],
        command: C,
        ctx: CommandContext | None = None,
    ) -> list[DomainEvent]:
        """Run the command; the events it appended (none when it decided nothing)."""
        head = self.store.max_position()
        handler(self.bus, ctx or CommandContext(actor_id="tester"), command)
        return [r.decode() for r in self.store.read_all(head)]

    def refused(
        self,
        error: type[DomainError],
        handler: Callable[[CommandBus, CommandContext, C], Outcome],
        command: C,
    ) -> str:
        """Run the command expecting ``error``; its code. Asserts nothing was recorded."""
        head = self.store.max_position()
        with pytest.raises(error) as refusal:
            handler(self.bus, CommandContext(actor_id="tester"), command)
        assert self.store.max_position() == head, "a refused command recorded events"
        return refusal.value.code

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        return self.store.load(cls, aggregate_id)

    def result(
        self, handler: Callable[[CommandBus, CommandContext, C], Outcome], command: C
    ) -> dict[str, Any]:
        return handler(self.bus, CommandContext(actor_id="tester"), command).result


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    """A fresh SQLite event store and a command bus on it (registered in conftest)."""
    store = open_event_store(make_settings(tmp_path / "var"))
    try:
        yield Scenario(store)
    finally:
        store.close()
