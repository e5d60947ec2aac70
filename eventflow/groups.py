"""Processing groups of projections: one subscription, one decode per event, one
transaction per batch.

The anchor is Axon Framework's tracking processor: many handlers share one event stream
and one unit of work per batch. A group reads each batch once, decodes each event once
(only if some member handles it), lets every member write into its own buffer on one
connection, and commits all of it with every member's tracking in a single transaction.
Before groups, each of the 17 projections read, decoded and tracked every event on its
own, and the cost of an event grew with the number of followers.

Members keep their own tracking rows (per version and partition), so ``projections
status``, rebuilds and read-your-writes stay per projection: a member behind the others
(rebuilt, newly added) makes the group read from the earliest member's position and the
others pass over what they have already applied.

A poison event stops only what it poisons. When a member's handler fails, the batch is
applied again carefully, each member's handling of each event in a savepoint; the event
is parked for that member (and the later events of the same aggregate queue behind it,
so one aggregate's events keep their order) while every other member and aggregate goes
on. Parked events are retried with backoff and can be skipped by an operator
(``eventflow.readmodels``). A member that needs the log's global order (the audit hash
chain) cannot skip an event, so it halts instead, alone in its group.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from eventflow.buffer import ProjectionTx
from eventflow.codec import RecordedEvent, batch_span, warm_keys
from eventflow.projection import Projection
from eventflow.readmodels import Member, ReadModels
from eventflow.schema import LOG
from infra.metrics import PROJECTION_ERRORS, PROJECTION_EVENTS, PROJECTION_POSITION

log = logging.getLogger(__name__)
AfterCommit = Callable[[list[RecordedEvent]], None]
Fetch = Callable[[int], RecordedEvent | None]
"""The stored event at a position (retries of parked events read it again)."""
PARKED_LOOK_SECONDS = 10.0
"""How often a group that knows of no parked events looks for some parked elsewhere (by a
process that had one of its Kafka partitions before): their retries, and an operator's
skip of them, wait up to this long; the group's own parked events are retried at once."""


class Halt(Exception):
    """A member that must not skip (it needs the global order) failed on ``event``; the
    events before it in the batch were committed."""

    def __init__(self, member: str, event: RecordedEvent, error: BaseException) -> None:
        super().__init__(f"{member} cannot apply position {event.position}: {error!r}")
        self.member, self.event, self.error = member, event, error


@dataclass
class Applied:
    """What one batch did: events applied per member and how far the group got."""

    position: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    parked: int = 0
    halted: Halt | None = None
    members: list[Member] = field(default_factory=list)
    """The members whose tracking moved to ``position`` (what waiters may be told)."""


class ProjectionGroup:
    def __init__(
        self,
        name: str,
        read_models: ReadModels,
        members: Sequence[Projection],
        *,
        pinned: dict[str, int] | None = None,
        after_commit: Mapping[str, AfterCommit] | None = None,
        retry_max_seconds: float = 30.0,
    ) -> None:
        if any(p.ordered for p in members) and len(members) > 1:
            raise ValueError(f"group {name}: a projection that needs the log's order goes alone")
        self.name = name
        self.read_models = read_models
        self.projections = list(members)
        self.pinned = pinned or {}
        """Versions written regardless of which one serves (a rebuild's new version)."""
        self.after_commit = dict(after_commit or {})
        self.retry_max_seconds = retry_max_seconds
        self.ordered = any(p.ordered for p in members)
        self.parked_possible = True
        """Whether parked sequences may exist for this group: true until a look at the
        table finds none, then kept up to date by this group's own parking, halts and
        retries. Events parked elsewhere are found by a look when a member switches
        versions (a rebuild's catch-up parked them), when Kafka hands the group partitions
        (another process had them), and every ``PARKED_LOOK_SECONDS``; between looks an
        idle group asks the database nothing about parked events."""
        self._looked: tuple[list[Member], float] = ([], float("-inf"))
        """The versions and the (monotonic) time of the last look at the parked table."""

    @property
    def topics(self) -> list[str]:
        """The topics the group reads (empty: every event)."""
        if any(p.ordered for p in self.projections):
            return []
        return sorted({t for p in self.projections for t in p.topics})

    def members(self) -> list[str]:
        return [p.name for p in self.projections]

    @property
    def gather_seconds(self) -> float:
        """How long the group may let events gather: the least any member allows."""
        return min(p.gather_seconds for p in self.projections)

    def assigned(self, partitions: set[int]) -> None:
        """Another process may have parked events in these partitions."""
        self.parked_possible = True

    def key(self) -> tuple[Member, ...]:
        return tuple(self.versions())

    def versions(self) -> list[Member]:
        """The version each member writes: pinned, or the one that serves now."""
        return [
            (p.name, self.pinned.get(p.name) or self.read_models.active_version(p.name))
            for p in self.projections
        ]

    def start(self) -> dict[int, int]:
        """Per partition, how far every member has applied: where the source must start."""
        floors: dict[int, int] = {}
        trackings = [self.read_models.tracking(name, v) for name, v in self.versions()]
        for partition in {p for t in trackings for p in t} | {LOG}:
            floors[partition] = min(self.read_models.applied_upto(t, partition) for t in trackings)
        return floors

    # -- batches ------------------------------------------------------------------------
    def apply(self, partition: int, events: Sequence[RecordedEvent], seen_upto: int) -> Applied:
        """Apply one partition's batch for every member, in one transaction."""
        members = self.versions()
        if members != self._looked[0]:  # switched since the last look: a rebuild's parked
            self.parked_possible = True  # events must hold back this batch's later ones
        attributes = {"languagemate.group": self.name, "languagemate.partition": partition}
        with batch_span(f"project {self.name}", events, attributes):
            warm_keys([e for e in events if any(p.handles(e.topic) for p in self.projections)])
            try:
                with self.read_models.batch() as conn:
                    done = self._apply(conn, members, partition, events, seen_upto, careful=False)
            except Exception:
                log.warning("group %s: a batch failed; applying it event by event", self.name)
                with self.read_models.batch() as conn:
                    done = self._apply(conn, members, partition, events, seen_upto, careful=True)
        self._report(done, events, partition)
        if done.halted is not None:
            self.parked_possible = True
            self.read_models.record_halt(members[0], partition, done.halted.event,
                                         done.halted.error, self.retry_max_seconds)  # fmt: skip
            raise done.halted
        return done

    def _apply(
        self,
        conn: Connection,
        members: list[Member],
        partition: int,
        events: Sequence[RecordedEvent],
        seen_upto: int,
        *,
        careful: bool,
    ) -> Applied:
        """One transaction. Fast: every member's writes flushed once at the end. Careful:
        each member's handling of each event in a savepoint, a failure parks that event."""
        batch = _Batch(self, conn, members, partition, careful=careful)
        for event in events:
            decoded: Any = None
            for projection in self.projections:
                if not batch.due(projection, event):
                    continue
                if decoded is None and projection.raw is None:
                    decoded = event.decode()
                batch.handle(projection, event, decoded)
                if batch.done.halted is not None:
                    break
            if batch.done.halted is not None:
                break
            batch.done.position = max(batch.done.position, event.position)
        done = batch.done
        if done.halted is None:
            done.position = max(done.position, seen_upto)
        for tx in batch.txs.values():
            tx.flush()
        done.members = self._commit(conn, members, partition, done.position, batch.upto)
        if done.parked:
            self.parked_possible = True
        return done

    def _commit(
        self, conn: Connection, members: list[Member], partition: int, position: int,
        upto: dict[str, int],
    ) -> list[Member]:  # fmt: skip
        moved = {m: position for m in members if position > upto[m[0]]}
        self.read_models.advance_tracking(conn, moved, partition)
        if moved:
            self.read_models.announce(conn, moved, partition, position)
        return list(moved)

    def _report(self, done: Applied, events: Sequence[RecordedEvent], partition: int) -> None:
        for name, count in done.applied.items():
            PROJECTION_EVENTS.labels(name).inc(count)
            hook = self.after_commit.get(name)
            if hook is not None:
                try:
                    hook(list(events))
                except Exception:
                    log.warning("after-commit hook of %s failed", name, exc_info=True)
        if done.position:
            for projection in self.projections:
                PROJECTION_POSITION.labels(projection.name, str(partition)).set(done.position)

    # -- parked events ------------------------------------------------------------------
    def maintain(self, fetch: Fetch, *, closing: bool = False) -> None:
        """Projections record their progress in every batch's transaction: nothing is
        held back, whether closing or not."""
        self.retry_parked(fetch)

    def retry_parked(self, fetch: Fetch) -> int:
        """Retry the parked sequences whose time has come (or that an operator skipped);
        returns how many parked events were settled."""
        members = self.versions()
        versions, looked_at = self._looked
        if members != versions or time.monotonic() - looked_at >= PARKED_LOOK_SECONDS:
            self.parked_possible = True
        if not self.parked_possible:
            return 0
        settled = 0
        if self.ordered:  # never re-applied out of order: resolved once the group is past
            self.read_models.resolve_passed(members[0])
        else:
            due = self.read_models.due(members)
            for head in due:
                settled += self._retry_sequence(head, fetch)
            if due:
                return settled
        with self.read_models.reads() as conn:
            self.parked_possible = bool(self.read_models.open_sequences(conn, members))
        self._looked = (members, time.monotonic())
        return settled

    def _retry_sequence(self, head: dict[str, Any], fetch: Fetch) -> int:
        """Apply a parked sequence from its head onwards, in order, in one transaction; stop
        at the first event that fails again (it becomes the head)."""
        projection = self.read_models.projection(head["projection"])
        member: Member = (head["projection"], head["version"])
        settled = 0
        with self.read_models.engine.begin() as conn:
            tx = ProjectionTx(conn, projection.tables_for(member[1]))
            for row in self.read_models.sequence(conn, member, head["aggregate_id"]):
                if row["status"] == "skip":
                    self.read_models.settle(conn, member, row["position"], "skipped")
                    settled += 1
                    continue
                event = fetch(int(row["position"]))
                try:
                    if event is None or event.aggregate_id != UUID(row["aggregate_id"]):
                        raise LookupError(f"position {row['position']} is not in the log")
                    with conn.begin_nested():
                        _handle(projection, event, None if projection.raw else event.decode(), tx)
                        tx.flush()
                except Exception as exc:
                    tx.discard()
                    self.read_models.fail_again(conn, row, exc, self.retry_max_seconds)
                    break
                self.read_models.settle(conn, member, row["position"], "resolved")
                settled += 1
        if settled:
            log.info("projection %s settled %d parked events", member[0], settled)
        return settled


class _Batch:
    """The state of one batch transaction: what each member has applied, which of its
    sequences are parked, and its write buffer."""

    def __init__(
        self, group: ProjectionGroup, conn: Connection, members: list[Member], partition: int,
        *, careful: bool,
    ) -> None:  # fmt: skip
        read_models = group.read_models
        self.read_models, self.conn, self.partition, self.careful = (
            read_models, conn, partition, careful,
        )  # fmt: skip
        self.versions = dict(members)
        self.upto = read_models.lock_tracking(conn, members, partition)
        look = careful or (group.parked_possible and not group.ordered)
        self.parked = read_models.open_sequences(conn, members) if look else set()
        self.skips = read_models.skips(conn, members) if careful and group.ordered else set()
        pairs = zip(members, group.projections, strict=True)
        self.txs = {name: ProjectionTx(conn, p.tables_for(version)) for (name, version), p in pairs}
        self.done = Applied()

    def due(self, projection: Projection, event: RecordedEvent) -> bool:
        """Whether ``projection`` has yet to apply ``event`` (parking it, or passing over it
        on an operator's word, counts as done)."""
        name = projection.name
        if event.position <= self.upto[name] or not projection.handles(event.topic):
            return False
        member = (name, self.versions[name])
        if (name, str(event.aggregate_id)) in self.parked:
            self.read_models.park(self.conn, member, self.partition, event, None)
            self.done.parked += 1
            return False
        if event.position in self.skips:
            self.read_models.settle(self.conn, member, event.position, "skipped")
            return False
        return True

    def handle(self, projection: Projection, event: RecordedEvent, decoded: Any) -> None:
        name, tx = projection.name, self.txs[projection.name]
        if not self.careful:
            _handle(projection, event, decoded, tx)
            self.done.applied[name] += 1
            return
        try:
            with self.conn.begin_nested():
                _handle(projection, event, decoded, tx)
                tx.flush()
        except Exception as exc:
            tx.discard()
            if projection.ordered:
                self.done.halted = Halt(name, event, exc)
                return
            log.error("projection %s parks position %d (%s): %r", name, event.position,
                      event.topic, exc)  # fmt: skip
            PROJECTION_ERRORS.labels(name).inc()
            member = (name, self.versions[name])
            self.read_models.park(self.conn, member, self.partition, event, exc)
            self.parked.add((name, str(event.aggregate_id)))
            self.done.parked += 1
            return
        self.done.applied[name] += 1


def _handle(projection: Projection, event: RecordedEvent, decoded: Any, tx: ProjectionTx) -> None:
    if projection.raw is not None:
        projection.raw(event, tx)
    else:
        projection.handlers[event.topic](decoded, tx)
