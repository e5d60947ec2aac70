"""Policies: event -> command handlers with the projectors' tracking and runners.

A policy is a projection without tables: its handlers issue commands. The tracking row is
committed after the commands, so a crash re-delivers the event, and the causing event's id
is the command's idempotency key, so re-delivery appends nothing new (exactly-once effect
from at-least-once delivery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from commands.base import CommandBus, CommandContext
from domain.events import DomainEvent
from projections.engine import Projection, ProjectionTx

E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class PolicyContext:
    bus: CommandBus
    ctx: CommandContext


class Policy(Projection):
    def __init__(self, name: str) -> None:
        super().__init__(f"policy.{name}")
        self._bus: CommandBus | None = None

    def bind(self, bus: CommandBus) -> None:
        self._bus = bus

    def when(
        self, *event_types: type[DomainEvent]
    ) -> Callable[[Callable[[Any, PolicyContext], None]], Callable[[Any, PolicyContext], None]]:
        def register(
            reaction: Callable[[Any, PolicyContext], None],
        ) -> Callable[[Any, PolicyContext], None]:
            def handler(event: DomainEvent, _: ProjectionTx) -> None:
                reaction(event, self.context_for(event))

            self.on(*event_types)(handler)
            return reaction

        return register

    def context_for(self, event: DomainEvent) -> PolicyContext:
        if self._bus is None:
            raise RuntimeError(f"{self.name} is not bound to a command bus")
        ctx = CommandContext(
            actor_id=self.name,
            correlation_id=event.meta.correlation_id,
            causation_id=event.meta.event_id,
            idempotency_key=str(event.meta.event_id),
        )
        return PolicyContext(self._bus, ctx)
