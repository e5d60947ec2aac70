"""Policies: event -> command handlers with the projectors' tracking and runners.

A policy is a projection without tables whose handlers issue commands. The tracking row is
committed after the commands, so a crash re-delivers the event, and the causing event's id
is the command's idempotency key, so re-delivery appends nothing new (exactly-once effect
from at-least-once delivery).

Policies are declared once at import time and *bound* to a runtime's command bus when the
runtime starts (``bound`` returns a copy), so two runtimes in one process never share state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from commands.base import CommandBus, CommandContext
from domain.events import DomainEvent
from infra.logs import correlated
from projections.engine import Projection, ProjectionTx, ReadModels

Reaction = Callable[[Any, "PolicyContext"], None]


class JobSender(Protocol):
    """Where a policy hands slow work to the workers (``workers.jobs.JobQueue``)."""

    def send(self, name: str, *args: Any) -> None: ...


class Publisher(Protocol):
    """Where a policy publishes live payloads for sockets (``infra.fanout.Fanout``)."""

    def publish(self, channel: str, payload: dict[str, Any]) -> None: ...


@dataclass
class PolicyServices:
    """What a runtime lends its policies besides the command bus. Filled in as the runtime
    is assembled (the read models include the policies, so they come after binding)."""

    jobs: JobSender | None = None
    live: Publisher | None = None
    read_models: ReadModels | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PolicyContext:
    bus: CommandBus
    ctx: CommandContext
    services: PolicyServices = field(default_factory=PolicyServices)

    @property
    def jobs(self) -> JobSender | None:
        return self.services.jobs


class Policy(Projection):
    def __init__(self, name: str, *, _full_name: str | None = None) -> None:
        super().__init__(_full_name or f"policy.{name}")
        self.reactions: list[tuple[tuple[type[DomainEvent], ...], Reaction]] = []
        self._bus: CommandBus | None = None
        self._services = PolicyServices()
        self.follow_log = False
        """Read the notification log even when Kafka is configured: for a policy that needs
        the global order (Kafka orders per aggregate only)."""

    def when(self, *event_types: type[DomainEvent]) -> Callable[[Reaction], Reaction]:
        def register(reaction: Reaction) -> Reaction:
            self.reactions.append((event_types, reaction))
            self._register(event_types, reaction)
            return reaction

        return register

    def _register(self, event_types: tuple[type[DomainEvent], ...], reaction: Reaction) -> None:
        def handler(event: DomainEvent, _: ProjectionTx) -> None:
            with correlated(event.meta.correlation_id):
                reaction(event, self.context_for(event))

        self.on(*event_types)(handler)

    def bound(self, bus: CommandBus, services: PolicyServices | None = None) -> Policy:
        """A copy of this policy whose reactions issue commands on ``bus`` and use the
        runtime's ``services``."""
        copy = Policy(self.name, _full_name=self.name)
        copy._bus, copy._services = bus, services or PolicyServices()
        copy.poll_seconds, copy.follow_log = self.poll_seconds, self.follow_log
        copy.batch_window_seconds = self.batch_window_seconds
        for event_types, reaction in self.reactions:
            copy._register(event_types, reaction)
        return copy

    def context_for(self, event: DomainEvent) -> PolicyContext:
        if self._bus is None:
            raise RuntimeError(f"{self.name} is not bound to a command bus")
        ctx = CommandContext(
            actor_id=self.name,
            correlation_id=event.meta.correlation_id,
            causation_id=event.meta.event_id,
            idempotency_key=str(event.meta.event_id),
        )
        return PolicyContext(self._bus, ctx, self._services)
