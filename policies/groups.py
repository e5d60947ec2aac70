"""Processing groups of reactions, one per kind, driven by ``eventflow.runner``.

* :class:`CommandGroup`: every reaction of a batch runs against shared state
  (``commands.base.ReactionBus``) and everything they decided is appended in one
  transaction together with the group's tracking. A reaction that fails sends the batch
  through again event by event; the failing reaction is parked (with the later events of
  that aggregate behind it) and the others' decisions are kept.
* :class:`DispatchGroup`: reactions send jobs; the tracking follows once they are sent.
* :class:`LiveGroup`: reactions publish to sockets; no tracking, failures are logged.

Tracking lives in the event store (``eventflow.store.TRACKING_TABLE``), one row per group
and source partition. One process runs a group on a partition at a time (Kafka assigns
partitions; the log-following policies role holds a lease, see ``eventflow.lease``).
Parked reactions are retried with backoff; a retry issues its commands with the causing
event as the idempotency key (a marker event per retried command: rare by nature), so a
crash between a retry's commands and the settling of its park is harmless.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from opentelemetry.trace import SpanKind

from commands.base import CommandBus, ReactionBus
from domain.errors import ConcurrencyConflict
from domain.events import DomainEvent
from eventflow.codec import RecordedEvent, warm_keys
from eventflow.groups import Applied, Fetch
from eventflow.readmodels import Member, ReadModels
from eventflow.schema import LOG, tracking_table
from eventflow.store import AlreadyTracked, EventStore
from infra import tracing
from infra.logs import CORRELATION_ID, correlated
from infra.metrics import PROJECTION_ERRORS, PROJECTION_EVENTS
from policies.base import JobSender, PolicyServices, Reactions

log = logging.getLogger(__name__)
POLICY_VERSION = 0
"""Reactions have no tables: their parked events are kept under this version."""
MAX_ATTEMPTS = 25
PROGRESS_SECONDS = 1.0
"""How often a group records progress that carried no decisions."""
Clock = Callable[[], datetime]
Work = list[tuple[RecordedEvent, DomainEvent, list[Reactions]]]
"""Events of a batch still to react to, decoded, each with the reactions that want it."""
Failure = tuple[Reactions, BaseException]


class _Group:
    def __init__(
        self,
        name: str,
        members: Sequence[Reactions],
        *,
        store: EventStore,
        read_models: ReadModels,
        services: PolicyServices,
        partitions: int | None = None,
        clock: Clock | None = None,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.name = name
        self.reactions = list(members)
        self.store, self.read_models, self.services = store, read_models, services
        self.partitions = partitions
        """Kafka partitions read, or ``None`` for the log."""
        self.clock = clock
        self.retry_max_seconds = retry_max_seconds
        self.parked_possible = True
        self._positions: dict[int, int] = {}
        """Partition -> position this group has dealt with (one process runs a group on a
        partition, so what it did is known here before it is recorded)."""
        self._recorded: dict[int, int] = {}
        """Partition -> position recorded in the event store."""
        self._recorded_at = time.monotonic()

    @property
    def topics(self) -> list[str]:
        return sorted({t for r in self.reactions for t in r.topics})

    def members(self) -> list[str]:
        return [r.name for r in self.reactions]

    gather_seconds = 0.0
    """Reactions are prompt: a chat room, a notification or a job follows its event at once."""

    def key(self) -> str:
        return self.name

    def assigned(self, partitions: set[int]) -> None:
        """Another process may have parked reactions in these partitions."""
        self.parked_possible = True

    def tracking_name(self, partition: int) -> str:
        return self.name if partition == LOG else f"{self.name}#{partition}"

    def _partitions(self) -> list[int]:
        return [LOG] if self.partitions is None else list(range(self.partitions))

    def start(self) -> dict[int, int]:
        self._positions.clear()
        self._recorded.clear()
        return {p: self._tracked(p) for p in self._partitions()}

    def _tracked(self, partition: int) -> int:
        if partition not in self._positions:
            name = self.tracking_name(partition)
            position = self.store.tracked(name) or self._carried_over(partition)
            self._positions[partition] = self._recorded[partition] = position
        return self._positions[partition]

    def _carried_over(self, partition: int) -> int:
        """A group's first start on a store whose policies were tracked per policy in the
        read models (before groups): begin where the slowest of them stopped, never at 0,
        or every reaction of history would run again."""
        with self.read_models.reads() as conn:
            rows = conn.execute(
                tracking_table.select().where(
                    tracking_table.c.projection.in_(self.members()),
                    tracking_table.c.partition.in_([partition, LOG]),
                )
            ).all()
        found: dict[str, int] = {}
        for row in rows:
            found[row.projection] = max(found.get(row.projection, 0), int(row.position))
        if len(found) < len(self.reactions):
            return 0
        position = min(found.values())
        if position:
            self._record(partition, position)
        return position

    def _record(self, partition: int, position: int, events: Sequence[DomainEvent] = ()) -> None:
        """Append ``events`` with the group's new position; when another run already got
        there (a redelivery) nothing is appended."""
        try:
            self.store.append(events, Tracking(self.tracking_name(partition), position))
            self._positions[partition] = self._recorded[partition] = position
        except AlreadyTracked:
            self._positions.pop(partition, None)

    def _progress(self, partition: int, position: int) -> None:
        """Note that the group has dealt with everything up to ``position`` without
        deciding anything that must be appended; it is recorded at most once a second
        (``maintain``), not in a write per batch: each is a transaction of the event
        store, whose one writer every user's command waits for. A crash before it is
        recorded only means reading these events again (and, for jobs, sending them again:
        at least once)."""
        self._positions[partition] = max(self._positions.get(partition, 0), position)

    def _flush_progress(self) -> None:
        self._recorded_at = time.monotonic()
        for partition, position in list(self._positions.items()):
            if position > self._recorded.get(partition, 0):
                self._record(partition, position)

    def maintain(self, fetch: Fetch, *, closing: bool = False) -> None:
        """Retry the parked reactions whose time has come and record deferred progress
        (at once when closing, so a clean stop sends no job twice on the next start)."""
        self.retry_parked(fetch)
        if closing or time.monotonic() - self._recorded_at >= PROGRESS_SECONDS:
            self._flush_progress()

    def _due(
        self, partition: int, events: Sequence[RecordedEvent]
    ) -> tuple[Work, set[tuple[str, str]]]:
        """The events this group has yet to react to, decoded, with the reactions each
        wants; an event of an aggregate parked for a reaction is queued behind it."""
        tracked = self._tracked(partition)
        parked = self._open_sequences()
        work = []
        wanted = [e for e in events if e.position > tracked and self._handled(e)]
        warm_keys(wanted)
        for recorded in wanted:
            event = recorded.decode()
            takers = []
            for reactions in self.reactions:
                if not reactions.handles(recorded.topic):
                    continue
                if (reactions.name, str(recorded.aggregate_id)) in parked:
                    self._park(reactions, partition, recorded, None)
                    continue
                takers.append(reactions)
            if takers:
                work.append((recorded, event, takers))
        return work, parked

    @staticmethod
    def _batch_end(events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        """What a batch will have done once applied: seen everything up to its end."""
        return Applied(position=max([seen_upto, *(e.position for e in events)]))

    def _begin(
        self, partition: int, events: Sequence[RecordedEvent], seen_upto: int
    ) -> tuple[Applied, Work | None, set[tuple[str, str]]]:
        """The batch's outcome so far and its work, or no work when the group's tracking
        is already past the batch (a redelivery)."""
        done = self._batch_end(events, seen_upto)
        if done.position <= self._tracked(partition):
            return done, None, set()
        work, parked = self._due(partition, events)
        return done, work, parked

    def _handled(self, event: RecordedEvent) -> bool:
        return any(r.handles(event.topic) for r in self.reactions)

    def _open_sequences(self) -> set[tuple[str, str]]:
        if not self.parked_possible:
            return set()
        with self.read_models.reads() as conn:
            return self.read_models.open_sequences(conn, self._members())

    def _members(self) -> list[Member]:
        return [(name, POLICY_VERSION) for name in self.members()]

    def _park(
        self,
        reactions: Reactions,
        partition: int,
        event: RecordedEvent,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            log.error("%s parks position %d (%s): %r", reactions.name, event.position,
                      event.topic, error)  # fmt: skip
            PROJECTION_ERRORS.labels(reactions.name).inc()
        self.parked_possible = True
        with self.read_models.engine.begin() as conn:
            self.read_models.park(conn, (reactions.name, POLICY_VERSION), partition, event, error)

    def _react(
        self,
        reactions: Reactions,
        event: DomainEvent,
        bus: CommandBus,
        services: PolicyServices | None = None,
        trace: tracing.Carrier | None = None,
    ) -> None:
        """React under a span that continues the event's trace (``trace``: the Kafka
        record's, else the event's own), so the commands and jobs it issues do too."""
        attributes = {"languagemate.policy": reactions.name, "languagemate.event_type":
                      event.topic, "languagemate.position": event.meta.position or 0}  # fmt: skip
        with (
            correlated(event.meta.correlation_id),
            tracing.span(
                f"react {reactions.name}",
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                parent_context=trace or event.meta.trace_context,
            ),
        ):
            reactions.react(event, reactions.context(bus, event, services or self.services))
        PROJECTION_EVENTS.labels(reactions.name).inc()

    # -- parked events ------------------------------------------------------------------
    def retry_parked(self, fetch: Fetch) -> int:
        if not self.parked_possible:
            return 0
        due = self.read_models.due(self._members())
        settled = sum(self._retry_sequence(head, fetch) for head in due)
        if not due:
            self.parked_possible = bool(self._open_sequences_now())
        return settled

    def _open_sequences_now(self) -> set[tuple[str, str]]:
        with self.read_models.reads() as conn:
            return self.read_models.open_sequences(conn, self._members())

    def _retry_sequence(self, head: dict[str, Any], fetch: Fetch) -> int:
        reactions = next(r for r in self.reactions if r.name == head["projection"])
        member: Member = (reactions.name, POLICY_VERSION)
        settled = 0
        with self.read_models.engine.begin() as conn:
            for row in self.read_models.sequence(conn, member, head["aggregate_id"]):
                if row["status"] != "skip":
                    recorded = fetch(int(row["position"]))
                    try:
                        if recorded is None or recorded.aggregate_id != UUID(row["aggregate_id"]):
                            raise LookupError(f"position {row['position']} is not in the log")
                        self._retry(reactions, recorded.decode())
                    except Exception as exc:
                        self.read_models.fail_again(conn, row, exc, self.retry_max_seconds)
                        break
                status = "skipped" if row["status"] == "skip" else "resolved"
                self.read_models.settle(conn, member, row["position"], status)
                settled += 1
        return settled

    def _retry(self, reactions: Reactions, event: DomainEvent) -> None:
        """Run one parked reaction again, on its own."""
        self._react(reactions, event, CommandBus(self.store, self.clock))


class CommandGroup(_Group):
    """Exactly once: decisions and tracking in one transaction (module docstring)."""

    def apply(self, partition: int, events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        done, work, parked = self._begin(partition, events, seen_upto)
        if work is None:
            return done
        last = done.position
        if not work:
            self._progress(partition, last)
        elif self._decide_and_append(partition, last, work):
            self._carefully(partition, work, parked)
            self._progress(partition, last)
        for _, _, takers in work:
            done.applied.update(r.name for r in takers)
        return done

    def _decide_and_append(self, partition: int, position: int, work: Work) -> list[Failure]:
        """Run the reactions of ``work`` on fresh shared state and append all they decided
        with the group's position (again on a lost race); the failures, if any, instead
        (nothing appended then)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            bus = ReactionBus(self.store, self.clock)
            failures = self._react_all(bus, work)
            if failures:
                return failures
            try:
                self._record(partition, position, bus.pending())
                return []
            except ConcurrencyConflict:
                if attempt == MAX_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))
        raise AssertionError("unreachable")

    def _react_all(self, bus: ReactionBus, work: Work) -> list[Failure]:
        for recorded, event, takers in work:
            for reactions in takers:
                try:
                    self._react(reactions, event, bus, trace=recorded.trace)
                except Exception as exc:
                    return [(reactions, exc)]
        return []

    def _carefully(self, partition: int, work: Work, parked: set[tuple[str, str]]) -> None:
        """One event at a time: a reaction that fails is parked and the event's other
        reactions are decided again without it."""
        for recorded, event, takers in work:
            keep = []
            for reactions in takers:
                if (reactions.name, str(recorded.aggregate_id)) in parked:
                    self._park(reactions, partition, recorded, None)  # behind its head
                else:
                    keep.append(reactions)
            while failures := self._decide_and_append(
                partition, recorded.position, [(recorded, event, keep)]
            ):
                reactions, error = failures[0]
                self._park(reactions, partition, recorded, error)
                parked.add((reactions.name, str(recorded.aggregate_id)))
                keep = [r for r in keep if r is not reactions]

    def _retry(self, reactions: Reactions, event: DomainEvent) -> None:
        """The retried reaction's commands carry the causing event as idempotency key."""
        bus = CommandBus(self.store, self.clock)
        context = reactions.context(bus, event, self.services)
        key = f"{reactions.name}:{event.meta.event_id}"
        context = replace(context, ctx=replace(context.ctx, idempotency_key=key))
        with correlated(event.meta.correlation_id):
            reactions.react(event, context)


_Job = tuple[str, tuple[Any, ...], str | None, tracing.Carrier]
"""A job to send: name, arguments, and the correlation and trace of who asked for it."""


class _Batch:
    """A batch's jobs, sent once each when the batch is done: jobs act on the state they
    find when they run, so the same job twice in one batch (a user editing twice) is one."""

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], _Job] = {}

    def send(self, name: str, *args: Any) -> None:
        """Keep the job (and the correlation and trace of the reaction that first asked
        for it)."""
        self.jobs.setdefault(
            (name, repr(args)), (name, args, CORRELATION_ID.get(), tracing.carrier())
        )

    def flush(self, queue: JobSender | None) -> None:
        if not self.jobs:
            return
        if queue is None:
            raise RuntimeError("these reactions need the job queue")
        for name, args, correlation, trace in self.jobs.values():
            with correlated(correlation), tracing.resumed(trace):
                queue.send(name, *args)


class DispatchGroup(_Group):
    """At least once: jobs first, then the tracking."""

    def apply(self, partition: int, events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        done, work, parked = self._begin(partition, events, seen_upto)
        if work is None:
            return done
        last = done.position
        bus = CommandBus(self.store, self.clock)
        batch = _Batch()
        services = replace(self.services, jobs=batch)
        for recorded, event, takers in work:
            for reactions in takers:
                if (reactions.name, str(recorded.aggregate_id)) in parked:
                    self._park(reactions, partition, recorded, None)
                    continue
                try:
                    self._react(reactions, event, bus, services, recorded.trace)
                    done.applied[reactions.name] += 1
                except Exception as exc:
                    self._park(reactions, partition, recorded, exc)
                    parked.add((reactions.name, str(recorded.aggregate_id)))
        batch.flush(self.services.jobs)
        self._progress(partition, last)
        return done


class LiveGroup(_Group):
    """Best effort: from the head at start, nothing recorded, failures logged."""

    def start(self) -> dict[int, int]:
        head = self.store.max_position()
        return dict.fromkeys(self._partitions(), head)

    def apply(self, partition: int, events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        done = self._batch_end(events, seen_upto)
        bus = CommandBus(self.store, self.clock)
        wanted = [e for e in events if self._handled(e)]
        warm_keys(wanted)
        for recorded in wanted:
            event = recorded.decode()
            for reactions in self.reactions:
                if reactions.handles(recorded.topic):
                    try:
                        self._react(reactions, event, bus, trace=recorded.trace)
                        done.applied[reactions.name] += 1
                    except Exception:
                        log.warning("%s could not publish position %d", reactions.name,
                                    recorded.position, exc_info=True)  # fmt: skip
        return done

    def retry_parked(self, fetch: Fetch) -> int:
        return 0
