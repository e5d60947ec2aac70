"""The read-model database: which version of each projection serves, how far each has
applied the log, and the events each could not apply.

Tracking is kept per projection, version and source partition: partition ``LOG`` (-1) is
the notification log (the embedded mode, rebuilds), partitions 0..n are Kafka partitions.
An event counts as applied if its global position is at or below what its partition *or*
the log has applied, so a projection rebuilt from the log continues from Kafka without
applying history again.

Every projection's tables are versioned (``accounts_v1``): a rebuild fills version n+1
while queries keep reading version n, then ``projection_versions`` switches atomically.

Processing groups (``eventflow.groups``) write here inside their batch transactions; the
methods that take a ``Connection`` are theirs.

This is the read-model engine and the one module allowed past 500 lines for it: versions,
tracking and parked events are three tables of one bookkeeping, written on one connection
in one batch transaction (a batch's tracking and the events it parked or settled commit
together, and a parked sequence holds back only the version it was parked for). Split into
modules they would pass the same connection, member and version around with no seam between
them to test on its own.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from eventflow.codec import RecordedEvent
from eventflow.projection import Projection
from eventflow.schema import (
    LOG,
    OPEN,
    WRITE_LOCK_FIRST,
    _system,
    now,
    parked_table,
    schemas_table,
    tracking_table,
    versions_table,
)

Member = tuple[str, int]
"""A projection name and the version of its tables being written."""
APPLIED_CHANNEL = "languagemate_applied"
"""PostgreSQL channel on which a committed batch announces how far its members got."""


class ReadModels:
    """Owns the read-model database: versions, tracking, parked events."""

    def __init__(self, engine: Engine, projections: Iterable[Projection]) -> None:
        self.engine = engine
        self.projections = {p.name: p for p in projections}
        self._active_cache: tuple[float, dict[str, int]] = (float("-inf"), {})
        _system.create_all(engine)
        self._tracking_select = sa.select(
            tracking_table.c.projection, tracking_table.c.partition, tracking_table.c.position
        )
        if self.postgres:
            self._tracking_select = self._tracking_select.with_for_update()
        self._tracking_of = functools.lru_cache(maxsize=64)(self._tracking_statement)
        self._batch_engine = engine.execution_options(**{WRITE_LOCK_FIRST: True})
        self._snapshot_engine = (
            engine.execution_options(isolation_level="REPEATABLE READ") if self.postgres else engine
        )
        self._reads_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self.postgres else engine
        )
        insert = (postgresql.insert if self.postgres else sqlite.insert)(tracking_table)
        self._advance = insert.on_conflict_do_update(
            index_elements=[tracking_table.c.projection, tracking_table.c.version,
                            tracking_table.c.partition],
            set_={"position": insert.excluded.position, "updated_at": insert.excluded.updated_at},
            where=tracking_table.c.position < insert.excluded.position,
        )  # fmt: skip

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise KeyError(f"no projection named {name!r}") from None

    # -- versions -----------------------------------------------------------------------
    def ensure_ready(self) -> None:
        """Create the active version's tables of every projection (first start: version 1)."""
        for projection in self.projections.values():
            with self.engine.begin() as conn:
                row = conn.execute(
                    sa.select(versions_table.c.active).where(
                        versions_table.c.projection == projection.name
                    )
                ).first()
                if row is None:
                    conn.execute(
                        versions_table.insert().values(projection=projection.name, active=1)
                    )
            active = self.active_version(projection.name, fresh=True)
            if row is None:
                self.create_tables(projection, active)
            else:  # tables of the current schema only; a stale version is left for rebuild
                self.create_tables(projection, active, record=False)

    def stale(self) -> list[str]:
        """Projections whose active tables were built for another schema or set of topics
        (or before fingerprints were kept): their queries may fail or miss history until
        ``languagemate projections rebuild NAME``."""
        with self.reads() as conn:
            known = {
                (r.projection, r.version): r.fingerprint
                for r in conn.execute(sa.select(schemas_table)).all()
            }
        return [
            name
            for name, projection in sorted(self.projections.items())
            if projection.fingerprint is not None
            and known.get((name, self.active_version(name, fresh=True))) != projection.fingerprint
        ]

    def create_tables(self, projection: Projection, version: int, *, record: bool = True) -> None:
        """Create a version's missing tables; ``record`` notes them as of the current
        fingerprint (only right when the version starts empty)."""
        tables = projection.tables_for(version)
        with self.engine.begin() as conn:
            for table in tables.values():
                table.create(conn, checkfirst=True)
            if record and projection.fingerprint is not None:
                where = (schemas_table.c.projection == projection.name) & (
                    schemas_table.c.version == version
                )
                conn.execute(schemas_table.delete().where(where))
                conn.execute(
                    schemas_table.insert().values(
                        projection=projection.name,
                        version=version,
                        fingerprint=projection.fingerprint,
                    )
                )

    def drop_tables(self, projection: Projection, version: int) -> None:
        tables = projection.tables_for(version)
        with self.engine.begin() as conn:
            for table in reversed(list(tables.values())):
                table.drop(conn, checkfirst=True)
            for table in (tracking_table, schemas_table, parked_table):
                conn.execute(
                    table.delete().where(
                        table.c.projection == projection.name, table.c.version == version
                    )
                )

    def active_version(self, name: str, *, fresh: bool = False) -> int:
        """The version queries read. Every projection's is read in one query and kept for a
        second: it changes only on a rebuild, and every query and batch asks for it."""
        read_at, versions = self._active_cache
        if fresh or time.monotonic() - read_at >= 1.0:
            with self.reads() as conn:
                rows = conn.execute(sa.select(versions_table.c.projection, versions_table.c.active))
                versions = {r.projection: int(r.active) for r in rows}
            self._active_cache = (time.monotonic(), versions)
        return versions.get(name, 1)

    def table(self, projection: Projection, name: str) -> sa.Table:
        """The active version of one of a projection's tables, for query functions."""
        return projection.tables_for(self.active_version(projection.name))[name]

    def begin_rebuild(self, projection: Projection) -> int:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(versions_table).where(versions_table.c.projection == projection.name)
            ).one()
            version = int(max(row.active, row.building or 0)) + 1
            conn.execute(
                versions_table.update()
                .where(versions_table.c.projection == projection.name)
                .values(building=version)
            )
        self.drop_tables(projection, version)
        self.create_tables(projection, version)
        return version

    def switch(self, projection: Projection, version: int) -> int:
        """Make ``version`` the one queries read; returns the previous version."""
        with self.engine.begin() as conn:
            previous = conn.execute(
                sa.select(versions_table.c.active).where(
                    versions_table.c.projection == projection.name
                )
            ).scalar_one()
            conn.execute(
                versions_table.update()
                .where(versions_table.c.projection == projection.name)
                .values(active=version, building=None)
            )
        self._active_cache = (float("-inf"), {})
        return int(previous)

    # -- tracking -----------------------------------------------------------------------
    def tracking(self, name: str, version: int) -> dict[int, int]:
        with self.reads() as conn:
            rows = conn.execute(
                sa.select(tracking_table.c.partition, tracking_table.c.position).where(
                    tracking_table.c.projection == name, tracking_table.c.version == version
                )
            ).all()
        return {int(r.partition): int(r.position) for r in rows}

    @staticmethod
    def applied_upto(tracking: dict[int, int], partition: int) -> int:
        return max(tracking.get(partition, 0), tracking.get(LOG, 0))

    def applied_everywhere(self, name: str, partitions: int | None) -> int:
        """The log position up to which the active version has applied every event: the log
        tracking, or with Kafka the least of its ``partitions`` (which relay ticks keep
        moving when a partition is idle). What a sync cursor may safely promise."""
        tracking = self.tracking(name, self.active_version(name))
        if partitions is None:
            return tracking.get(LOG, 0)
        return min(self.applied_upto(tracking, p) for p in range(partitions))

    def has_applied(self, name: str, position: int, partition: int | None = None) -> bool:
        """Whether the active version has applied the event at ``position`` (``partition``:
        the Kafka partition of the event's aggregate; ``None``: the log)."""
        tracking = self.tracking(name, self.active_version(name))
        return self.applied_upto(tracking, LOG if partition is None else partition) >= position

    def batch(self) -> AbstractContextManager[Connection]:
        """A transaction for a group's batch. On SQLite it takes the write lock as it begins
        (``BEGIN IMMEDIATE``): a batch reads its tracking and then writes, and a read lock
        upgraded later can deadlock against another writer."""
        return self._batch_engine.begin()

    def reads(self) -> AbstractContextManager[Connection]:
        """A connection for statements that only read. On PostgreSQL it runs in autocommit,
        so a read costs its own round trip alone: in a transaction psycopg sends a ``BEGIN``
        before the first statement and the pool a ``ROLLBACK`` when the connection goes
        back, two more round trips and a sixth of an API's time under load. Nothing is lost:
        under ``READ COMMITTED`` every statement sees its own snapshot either way. Answers
        whose statements must agree use :meth:`snapshot`; writes use ``engine.begin()``."""
        return self._reads_engine.connect()

    def snapshot(self) -> AbstractContextManager[Connection]:
        """A read transaction whose statements all see one snapshot, for answers made of more
        than one query (a page and its total; a count and the progress it was counted at).
        PostgreSQL needs ``REPEATABLE READ`` for that; SQLite's read transactions are
        snapshots already."""
        return self._snapshot_engine.begin()

    def lock_tracking(
        self, conn: Connection, members: Sequence[Member], partition: int
    ) -> dict[str, int]:
        """Lock the members' tracking rows for ``partition`` (creating missing ones) and
        return how far each has applied it. PostgreSQL locks the rows it reads; on SQLite
        the batch's transaction holds the write lock already (:meth:`batch`). Rows are
        created only the first time, saving a statement per batch."""
        versions = dict(members)
        statement, bound = self._tracking_of(tuple(members)), {"partition": partition}
        rows = conn.execute(statement, bound).all()
        have = {r.projection for r in rows if r.partition == partition}
        if have >= versions.keys():
            return _upto(rows, versions, partition)
        self.advance_tracking(conn, dict.fromkeys(members, 0), partition)
        return _upto(conn.execute(statement, bound).all(), versions, partition)

    def _tracking_statement(self, members: tuple[Member, ...]) -> sa.Select[Any]:
        """The select of ``members``' tracking rows for ``:partition`` and the log, built
        once per set of members. SQLAlchemy finds a statement in its compiled cache by a key
        it works out by walking each new statement object (a reused object keeps its key),
        and for a group of 17 members that walk cost a batch more than its query."""
        return self._tracking_select.where(
            _members(tracking_table, members),
            tracking_table.c.partition.in_(
                [sa.bindparam("partition", type_=tracking_table.c.partition.type), LOG]
            ),
        )

    def advance_tracking(
        self, conn: Connection, positions: dict[Member, int], partition: int
    ) -> None:
        """Create tracking rows or move them forward (never backwards): one statement,
        compiled once and executed for every row (a batch moves every member)."""
        if not positions:
            return
        at = now()
        rows = [
            {"projection": name, "version": version, "partition": partition, "position": pos,
             "updated_at": at}
            for (name, version), pos in positions.items()
        ]  # fmt: skip
        conn.execute(self._advance, rows)

    def announce(
        self, conn: Connection, members: Iterable[Member], partition: int, position: int
    ) -> None:
        """Tell other processes, when this transaction commits, that ``members`` have
        applied ``partition`` up to ``position`` (PostgreSQL NOTIFY is delivered on commit
        only, so no one hears of a batch that was rolled back). In-process waiters are told
        by the runner after the commit; SQLite has no other process to tell."""
        if self.postgres:
            names = " ".join(f"{name}:{version}" for name, version in sorted(members))
            payload = f"{partition} {position} {names}"
            conn.execute(sa.select(sa.func.pg_notify(APPLIED_CHANNEL, payload)))

    # -- parked events ------------------------------------------------------------------
    def open_sequences(self, conn: Connection, members: Sequence[Member]) -> set[tuple[str, str]]:
        """(projection, aggregate id) of every sequence still parked for ``members``."""
        rows = conn.execute(
            sa.select(parked_table.c.projection, parked_table.c.aggregate_id)
            .where(
                _members(parked_table, members),
                parked_table.c.status.in_(OPEN),
            )
            .distinct()
        )
        return {(r.projection, r.aggregate_id) for r in rows}

    def park(
        self,
        conn: Connection,
        member: Member,
        partition: int,
        event: RecordedEvent,
        error: BaseException | None,
    ) -> None:
        """Park ``event`` for ``member``: as the failing head of its aggregate's sequence
        (``error`` given, first retry soon), or queued behind it."""
        at = now()
        insert = (postgresql.insert if self.postgres else sqlite.insert)(parked_table)
        conn.execute(  # a park repeated after a crash changes nothing
            insert.on_conflict_do_nothing().values(
                projection=member[0],
                version=member[1],
                position=event.position,
                partition=partition,
                aggregate_id=str(event.aggregate_id),
                topic=event.topic,
                error=None if error is None else repr(error)[:2000],
                attempts=0 if error is None else 1,
                first_seen=at,
                last_seen=at,
                retry_at=None if error is None else at + backoff(1),
                status="queued" if error is None else "failing",
            )
        )

    def due(self, members: Sequence[Member]) -> list[dict[str, Any]]:
        """Heads of parked sequences whose retry is due or that an operator skipped."""
        with self.reads() as conn:
            rows = conn.execute(
                sa.select(parked_table)
                .where(
                    _members(parked_table, members),
                    sa.or_(
                        parked_table.c.status == "skip",
                        sa.and_(parked_table.c.status == "failing",
                                parked_table.c.retry_at <= now()),
                    ),
                )
                .order_by(parked_table.c.position)
            )  # fmt: skip
            return [dict(r._mapping) for r in rows]

    def sequence(self, conn: Connection, member: Member, aggregate_id: str) -> list[dict[str, Any]]:
        """The open parked events of one member's aggregate, oldest first, locked."""
        query = (
            sa.select(parked_table)
            .where(
                parked_table.c.projection == member[0],
                parked_table.c.version == member[1],
                parked_table.c.aggregate_id == aggregate_id,
                parked_table.c.status.in_(OPEN),
            )
            .order_by(parked_table.c.position)
        )
        if self.postgres:
            query = query.with_for_update()
        return [dict(r._mapping) for r in conn.execute(query)]

    @staticmethod
    def settle(conn: Connection, member: Member, position: int, status: str) -> None:
        conn.execute(
            parked_table.update()
            .where(
                parked_table.c.projection == member[0],
                parked_table.c.version == member[1],
                parked_table.c.position == position,
            )
            .values(status=status, last_seen=now(), retry_at=None)
        )

    @staticmethod
    def fail_again(
        conn: Connection, row: dict[str, Any], error: BaseException, ceiling: float
    ) -> None:
        """The head of a sequence failed (again): count it and back off further."""
        attempts = int(row["attempts"]) + 1
        conn.execute(
            parked_table.update()
            .where(
                parked_table.c.projection == row["projection"],
                parked_table.c.version == row["version"],
                parked_table.c.position == row["position"],
            )
            .values(status="failing", attempts=attempts, error=repr(error)[:2000],
                    last_seen=now(), retry_at=now() + backoff(attempts, ceiling))
        )  # fmt: skip

    def record_halt(
        self, member: Member, partition: int, event: RecordedEvent, error: BaseException,
        ceiling: float,
    ) -> None:  # fmt: skip
        """A member that cannot skip stopped at ``event``: shown like a parked head (and
        skippable the same way) while the runner retries it."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(parked_table).where(
                    parked_table.c.projection == member[0],
                    parked_table.c.version == member[1],
                    parked_table.c.position == event.position,
                )
            ).first()
            if row is None:
                self.park(conn, member, partition, event, error)
            elif row.status == "failing":
                self.fail_again(conn, dict(row._mapping), error, ceiling)

    def resolve_passed(self, member: Member) -> None:
        """Mark resolved the halts a member has since got past."""
        upto = self.tracking(*member).get(LOG, 0)
        with self.engine.begin() as conn:
            conn.execute(
                parked_table.update()
                .where(
                    parked_table.c.projection == member[0],
                    parked_table.c.version == member[1],
                    parked_table.c.status == "failing",
                    parked_table.c.position <= upto,
                )
                .values(status="resolved", last_seen=now(), retry_at=None)
            )

    def skips(self, conn: Connection, members: Sequence[Member]) -> set[int]:
        """Positions an operator asked ``members`` to pass over."""
        rows = conn.execute(
            sa.select(parked_table.c.position).where(
                _members(parked_table, members),
                parked_table.c.status == "skip",
            )
        )
        return {int(r.position) for r in rows}

    def request_skip(self, name: str, position: int) -> bool:
        """Operator command: pass over one failing event of a projection's serving version
        (or of a reaction, which has no tables: version 0)."""
        version = self.active_version(name, fresh=True) if name in self.projections else 0
        with self.engine.begin() as conn:
            updated = conn.execute(
                parked_table.update()
                .where(
                    parked_table.c.projection == name,
                    parked_table.c.version == version,
                    parked_table.c.position == position,
                    parked_table.c.status == "failing",
                )
                .values(status="skip")
            ).rowcount
        return bool(updated)

    def status(self, head: int) -> list[dict[str, Any]]:
        """Position, lag and parked events of every projection, for operators and metrics."""
        report = []
        stale = set(self.stale())
        with self.reads() as conn:
            versions = {r.projection: r for r in conn.execute(sa.select(versions_table)).all()}
        for name in sorted(self.projections):
            row = versions.get(name)
            active = row.active if row else 1
            tracking = self.tracking(name, active)
            position = max(tracking.values(), default=0)
            report.append(
                {
                    "projection": name,
                    "active_version": active,
                    "building_version": row.building if row else None,
                    "stale": name in stale,
                    "position": position,
                    "partitions": {str(k): v for k, v in sorted(tracking.items())},
                    "lag": max(head - position, 0),
                    **self.parked_report((name, active)),
                }
            )
        return report

    def parked_report(self, member: Member) -> dict[str, Any]:
        """How many events are parked for ``member`` and the first failing one."""
        mine = (parked_table.c.projection == member[0]) & (parked_table.c.version == member[1])
        with self.reads() as conn:
            parked = conn.execute(
                sa.select(sa.func.count())
                .select_from(parked_table)
                .where(mine, parked_table.c.status.in_(OPEN))
            ).scalar_one()
            error = conn.execute(
                sa.select(parked_table)
                .where(mine, parked_table.c.status.in_(["failing", "skip"]))
                .order_by(parked_table.c.position)
                .limit(1)
            ).first()
        return {"parked": int(parked), "error": None if error is None else _error_view(error)}


def _members(table: sa.Table, members: Sequence[Member]) -> sa.ColumnElement[bool]:
    """``(projection, version)`` is one of ``members``. Spelled as named parameters rather
    than a tuple ``IN``, which SQLAlchemy renders as literals on every execution (the
    statement could not be cached: it was a projector's largest cost after its handlers)."""
    return sa.or_(
        *(
            sa.and_(table.c.projection == sa.bindparam(f"m{i}_name", name),
                    table.c.version == sa.bindparam(f"m{i}_version", version))
            for i, (name, version) in enumerate(members)
        )
    )  # fmt: skip


def backoff(attempts: int, ceiling: float = 30.0) -> timedelta:
    """How long a failing event waits before its next retry."""
    return timedelta(seconds=min(0.05 * 2**attempts, ceiling))


def _upto(rows: Sequence[Any], versions: dict[str, int], partition: int) -> dict[str, int]:
    found: dict[str, dict[int, int]] = {name: {} for name in versions}
    for r in rows:
        found[r.projection][int(r.partition)] = int(r.position)
    return {name: ReadModels.applied_upto(t, partition) for name, t in found.items()}


def _error_view(row: Any) -> dict[str, Any]:
    seen: datetime | None = row.last_seen
    return {
        "position": row.position,
        "topic": row.topic,
        "error": row.error,
        "attempts": row.attempts,
        "status": row.status,
        "aggregate_id": row.aggregate_id,
        "last_seen": seen.isoformat() if seen else None,
    }
