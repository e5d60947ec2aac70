"""The command runner: load aggregates, let them decide, append what they recorded.

Every command goes through ``CommandBus.run`` so that the cross-cutting rules live in one
place: optimistic concurrency (a stale expected version is a 409, a lost race without one is
retried on fresh state), idempotency keys (a repeated key returns the first outcome and
appends nothing), and event metadata (actor, correlation and causation ids, one clock,
the trace context of the command's span).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid4, uuid5

import typing_extensions
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.aggregate import Aggregate, Cause
from domain.errors import ConcurrencyConflict, RuleViolation
from domain.system import CommandHandled, HandledCommand
from eventflow.store import EventStore
from infra import tracing

log = logging.getLogger(__name__)
A = TypeVar("A", bound=Aggregate)
IDEMPOTENCY_NAMESPACE = UUID("6f1c1f43-3a51-4b3c-9d7e-0c1d8c5d9a10")
MAX_ATTEMPTS = 25
"""Racing writers on one aggregate win one per round; jittered backoff spreads the rounds."""
Result_co = typing_extensions.TypeVar(
    "Result_co", bound=Mapping[str, Any], default=Mapping[str, Any], covariant=True
)
"""What a command answers its caller. Most name what they touched and are read by nobody; a
command whose result a router reads declares it as a ``TypedDict`` in its module. Covariant,
so that code taking any ``Outcome`` (waiting for its positions) takes a typed one."""


@dataclass(frozen=True)
class CommandContext:
    """Who issues a command and why; built by the API or a policy, never by the domain."""

    actor_id: str | None = None
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True)
class Outcome(Generic[Result_co]):
    """What a command produced. ``duplicate`` means an earlier run with the same key did."""

    result: Result_co
    positions: list[int]
    duplicate: bool = False
    aggregates: list[UUID] = field(default_factory=list)
    """The aggregate of each appended event, aligned with ``positions``."""

    @property
    def last_position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def position_of(self, aggregate_id: UUID) -> int:
        """The last position this command appended for one aggregate (0 if none): what a
        read-your-writes wait must see applied in that aggregate's Kafka partition."""
        mine = [
            p for a, p in zip(self.aggregates, self.positions, strict=True) if a == aggregate_id
        ]
        return max(mine, default=0)


class UnitOfWork:
    """The aggregates one command touches; their pending events are saved together.

    ``identity`` is shared by the commands of one batch of policy reactions
    (:class:`ReactionBus`): a command then sees the aggregates earlier reactions of the batch
    loaded and changed, as if their events were already stored."""

    def __init__(
        self,
        store: EventStore,
        ctx: CommandContext,
        cause: Cause,
        identity: dict[UUID, Aggregate] | None = None,
    ) -> None:
        self._store = store
        self._ctx = ctx
        self.cause = cause
        self._identity: dict[UUID, Aggregate] = {} if identity is None else identity
        self._loaded: list[Aggregate] = []

    def _known(self, cls: type[A], aggregate_id: UUID) -> A | None:
        found = self._identity.get(aggregate_id)
        if found is not None and not isinstance(found, cls):
            raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {cls.__name__}")
        return found

    def load(self, cls: type[A], aggregate_id: UUID, *, check_expected: bool = False) -> A:
        """Load (or start, when it has no history) an aggregate for this command."""
        aggregate = self._known(cls, aggregate_id)
        if aggregate is None:
            aggregate = self._store.load(cls, aggregate_id) or cls(aggregate_id)
            self._identity[aggregate_id] = aggregate
        expected = self._ctx.expected_version
        if check_expected and expected is not None and aggregate.version != expected:
            raise ConcurrencyConflict(
                "the data was changed by someone else; reload and try again",
                expected_version=expected,
                actual_version=aggregate.version,
            )
        self._loaded.append(aggregate)
        return aggregate

    def create(self, cls: type[A], aggregate_id: UUID) -> A:
        """Start an aggregate that must be new, without reading the store.

        Saves a read per creation; if the id exists after all, its version-1 event collides
        in the store and the command fails as a concurrency conflict, never overwrites."""
        aggregate = self._known(cls, aggregate_id) or cls(aggregate_id)
        self._identity[aggregate_id] = aggregate
        self._loaded.append(aggregate)
        return aggregate

    def pending(self) -> list[Any]:
        return [event for aggregate in self._loaded for event in aggregate.collect()]


Decide = Callable[[UnitOfWork], Result_co]


class CommandBus:
    def __init__(self, store: EventStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def run(
        self, command: str, ctx: CommandContext, decide: Decide[Result_co]
    ) -> Outcome[Result_co]:
        """Run ``decide`` against fresh state and append its events (with retries on races)."""
        with _traced(command):
            return self._run(command, ctx, decide)

    def _run(
        self, command: str, ctx: CommandContext, decide: Decide[Result_co]
    ) -> Outcome[Result_co]:
        marker_id = self._marker_id(command, ctx)
        if marker_id is not None and (previous := self._previous_result(marker_id)) is not None:
            return _repeated(previous)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            cause = self.cause(ctx)
            uow = UnitOfWork(self.store, ctx, cause)
            result = decide(uow)
            events = uow.pending()
            if marker_id is not None:
                marker = HandledCommand(marker_id)
                marker.handled(cause, command=command, outcome=result)
                events.extend(marker.collect())
            try:
                positions = self.store.append(events)
                return Outcome(result, positions, aggregates=[e.aggregate_id for e in events])
            except ConcurrencyConflict:
                previous = None if marker_id is None else self._previous_result(marker_id)
                if previous is not None:
                    return _repeated(previous)
                if ctx.expected_version is not None or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("command %s lost a race (attempt %d); retrying", command, attempt)
                time.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))
        raise AssertionError("unreachable")

    def cause(self, ctx: CommandContext) -> Cause:
        return Cause(
            occurred_at=self.clock(),
            correlation_id=ctx.correlation_id,
            actor_id=ctx.actor_id,
            causation_id=ctx.causation_id,
            trace_context=tracing.carrier() or None,
        )

    @staticmethod
    def _marker_id(command: str, ctx: CommandContext) -> UUID | None:
        if ctx.idempotency_key is None:
            return None
        return uuid5(IDEMPOTENCY_NAMESPACE, f"{command}\x1f{ctx.actor_id}\x1f{ctx.idempotency_key}")

    def _previous_result(self, marker_id: UUID) -> dict[str, Any] | None:
        history = self.store.history(marker_id)
        if not history:
            return None
        marker = history[0]
        assert isinstance(marker, CommandHandled)
        return marker.outcome


class ReactionBus(CommandBus):
    """Runs the commands of a batch of policy reactions against shared state and appends
    nothing itself: the policy group appends everything they decided in one transaction,
    together with its tracking (``policies.groups``), so exactly-once needs no marker event
    per reaction. Each command still gets its own cause (time, correlation, causation)."""

    def __init__(self, store: EventStore, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(store, clock)
        self.identity: dict[UUID, Aggregate] = {}

    def run(
        self, command: str, ctx: CommandContext, decide: Decide[Result_co]
    ) -> Outcome[Result_co]:
        with _traced(command):
            uow = UnitOfWork(self.store, ctx, self.cause(ctx), identity=self.identity)
            result = decide(uow)
        return Outcome(result, [])

    def pending(self) -> list[Any]:
        """Every event the batch's commands decided, each aggregate's in version order."""
        return [event for aggregate in self.identity.values() for event in aggregate.collect()]


def _repeated(result: dict[str, Any]) -> Outcome[Result_co]:
    """The answer to a repeated idempotency key: the first run's result, read back from its
    marker event (the same keys; results hold only what JSON keeps as it was)."""
    return Outcome(cast(Result_co, result), [], duplicate=True)


def _traced(command: str) -> AbstractContextManager[Any]:
    """The command's span: the events it appends carry its trace context."""
    return tracing.span(f"command {command}", attributes={"languagemate.command": command})


class Command(BaseModel):
    """A decision asked of the system, in the system's own terms: snake_case, typed and
    validated. Routers translate the SPA's request bodies into commands, policies and
    operator tools issue them directly. The class name is the command's name in its
    context (``profiles.SetBio``): idempotency keys and logs use it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        """Input the command's own rules refuse (too long, out of range) is a rule
        violation, answered 422 like any other, whoever translated it into a command."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
            raise RuleViolation(
                f"{type(self).__name__}: invalid {', '.join(fields)}",
                code="INVALID_COMMAND", fields=fields,
            ) from None  # fmt: skip


C = TypeVar("C", bound=Command)
Handler = Callable[[CommandBus, CommandContext, C], Outcome[Result_co]]
"""What a named command is to its callers: ``set_bio(bus, ctx, SetBio(...)) -> Outcome``."""
Decision = Callable[[A, Cause, C], dict[str, Any] | None]


class OnOne(Generic[A]):
    """Commands decided by one aggregate of ``cls``, found by ``key(command)``: load it (or
    start it), let the decision change it, append what it recorded. The one mechanism
    behind every single-aggregate command; commands touching several aggregates write
    their ``bus.run`` decision themselves.

    ``start`` prepares an aggregate before the decision (a profile learns whose it is);
    ``expected`` checks the caller's expected version (``If-Match``) against it."""

    def __init__(
        self,
        cls: type[A],
        key: Callable[[Any], UUID],
        *,
        start: Callable[[A, Any], None] | None = None,
        expected: bool = False,
    ) -> None:
        self.cls, self.key, self.start, self.expected = cls, key, start, expected

    def __call__(self, decision: Decision[A, C]) -> Handler[C]:
        context = decision.__module__.rpartition(".")[2]

        def run(bus: CommandBus, ctx: CommandContext, command: C) -> Outcome:
            def decide(uow: UnitOfWork) -> dict[str, Any]:
                aggregate = uow.load(self.cls, self.key(command), check_expected=self.expected)
                if self.start is not None:
                    self.start(aggregate, command)
                return decision(aggregate, uow.cause, command) or {}

            return bus.run(f"{context}.{type(command).__name__}", ctx, decide)

        run.__name__ = run.__qualname__ = decision.__name__
        run.__doc__ = decision.__doc__
        return run
