"""Reactions to events, in three kinds with three different guarantees.

* :class:`CommandPolicy` (event -> command), **exactly once**: its reactions' commands are
  appended together with the policy group's tracking, in one transaction of the event
  store (``policies.groups``). A redelivered event finds its position already recorded
  and its decisions are dropped; a crash before the commit leaves neither events nor
  tracking behind.
* :class:`JobDispatcher` (event -> Dramatiq job), **at least once**: jobs are sent, then
  the tracking is recorded; a crash in between sends them again, so every job must
  tolerate running twice (each checks the state it acts on).
* :class:`LivePublisher` (event -> Redis publish for open sockets), **best effort**: no
  durable tracking at all; after a restart it starts at the head, and a socket that missed
  a frame catches up over REST (history, sync).

A reaction is ``fn(event, context)``. Reactions are declared at import time; a runtime
lends them its services (command bus, job queue, publisher, read models) through the
context, so two runtimes in one process never share state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from commands.base import CommandBus, CommandContext
from domain.events import DomainEvent
from eventflow.readmodels import ReadModels

Reaction = Callable[[Any, "PolicyContext"], None]


class JobSender(Protocol):
    """Where a dispatcher hands slow work to the workers (``infra.jobs.JobQueue``)."""

    def send(self, name: str, *args: Any) -> None: ...


class Publisher(Protocol):
    """Where a live publisher sends payloads for sockets (``infra.fanout.Fanout``)."""

    def publish(self, channel: str, payload: dict[str, Any]) -> None: ...


@dataclass
class PolicyServices:
    """What a runtime lends its reactions besides the command bus."""

    jobs: JobSender | None = None
    live: Publisher | None = None
    read_models: ReadModels | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PolicyContext:
    bus: CommandBus
    ctx: CommandContext
    services: PolicyServices = field(default_factory=PolicyServices)

    @property
    def jobs(self) -> JobSender:
        if self.services.jobs is None:
            raise RuntimeError("this reaction needs the job queue")
        return self.services.jobs

    @property
    def live(self) -> Publisher:
        if self.services.live is None:
            raise RuntimeError("this reaction needs the live publisher")
        return self.services.live

    @property
    def read_models(self) -> ReadModels:
        if self.services.read_models is None:
            raise RuntimeError("this reaction needs the read models")
        return self.services.read_models


class Reactions:
    """A named set of reactions keyed by event type (one kind of guarantee each)."""

    kind = "reactions"

    def __init__(self, name: str) -> None:
        self.name = f"policy.{name}"
        self.reactions: dict[str, list[Reaction]] = {}

    def when(self, *event_types: type[DomainEvent]) -> Callable[[Reaction], Reaction]:
        def register(reaction: Reaction) -> Reaction:
            for event_type in event_types:
                self.reactions.setdefault(event_type.topic, []).append(reaction)
            return reaction

        return register

    @property
    def topics(self) -> list[str]:
        return sorted(self.reactions)

    def handles(self, topic: str) -> bool:
        return topic in self.reactions

    def react(self, event: DomainEvent, context: PolicyContext) -> None:
        for reaction in self.reactions.get(event.topic, []):
            reaction(event, context)

    def context(
        self, bus: CommandBus, event: DomainEvent, services: PolicyServices
    ) -> PolicyContext:
        """The commands a reaction issues are caused by ``event`` and done by the policy."""
        ctx = CommandContext(
            actor_id=self.name,
            correlation_id=event.meta.correlation_id,
            causation_id=event.meta.event_id,
        )
        return PolicyContext(bus, ctx, services)


class CommandPolicy(Reactions):
    kind = "command"


class JobDispatcher(Reactions):
    kind = "dispatch"


class LivePublisher(Reactions):
    kind = "live"
