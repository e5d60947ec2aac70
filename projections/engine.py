"""The projection engine: read models that are exactly-once, rebuildable and observable.

A ``Projection`` declares its tables and one small handler per event type. The engine applies
events in batches and commits the read-model writes together with the tracking position in
one transaction, so a crash or a redelivered event never applies anything twice.

Tracking is kept per source partition: partition ``LOG`` (-1) is the notification log (the
embedded mode and rebuilds), partitions 0..n are Kafka partitions. An event is applied only if
its global position is above what its partition *and* the log have already applied, so a
projection rebuilt from the log can continue from Kafka without re-applying history.

Every projection's tables are versioned (``accounts_v1``): a rebuild fills version n+1 while
queries keep reading version n, then ``projection_versions`` switches atomically.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex, CreateTable

from domain.events import DomainEvent, registry
from infra.event_store import RecordedEvent, warm_keys

LOG = -1
Handler = Callable[[Any, "ProjectionTx"], None]
RawHandler = Callable[[RecordedEvent, "ProjectionTx"], None]
TableBuilder = Callable[[sa.MetaData, Callable[[str], str]], None]


class Projection:
    """A named read model: versioned tables plus handlers keyed by event type."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers: dict[str, Handler] = {}
        self._builders: list[TableBuilder] = []
        self._tables: dict[int, dict[str, sa.Table]] = {}
        self.poll_seconds: float | None = None
        """How often its runner polls, when it must react faster than the configured rate."""
        self.batch_window_seconds: float | None = None
        """Overrides the configured batch window (``0`` for a projection on a live path)."""
        self.raw: RawHandler | None = None
        """A handler of every stored event, undecoded, in the log's global order (the audit
        hash chain): such a projection always reads the event log, never Kafka, whose
        partitions each keep only their own order."""

    def tables(self, builder: TableBuilder) -> TableBuilder:
        """Decorator: ``builder(metadata, name)`` defines tables named ``name("base")``."""
        self._builders.append(builder)
        return builder

    def on(self, *event_types: type[DomainEvent]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for event_type in event_types:
                if event_type.topic in self.handlers:
                    raise ValueError(f"{self.name}: two handlers for {event_type.topic}")
                self.handlers[event_type.topic] = handler
            return handler

        return register

    def on_every(self, handler: RawHandler) -> RawHandler:
        """Decorator: ``handler(recorded, tx)`` for every event, in global order."""
        if self.handlers or self.raw is not None:
            raise ValueError(f"{self.name}: a raw handler must be the projection's only one")
        self.raw = handler
        return handler

    @property
    def ordered(self) -> bool:
        return self.raw is not None

    def handles(self, topic: str) -> bool:
        return self.raw is not None or topic in self.handlers

    @property
    def topics(self) -> list[str]:
        """The topics to read (empty: all of them)."""
        return sorted(self.handlers)

    @property
    def fingerprint(self) -> str | None:
        """What a version's data depends on besides handler code: the table definitions and
        the topics handled. When it changes, existing tables are stale (a new column, or
        history of a newly handled topic that was never applied) and need a rebuild.
        ``None`` for a projection without tables (a policy must never replay history)."""
        tables = self.tables_for(0)
        if not tables:
            return None
        digest = hashlib.sha256()
        for table in tables.values():
            digest.update(str(CreateTable(table)).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index)).encode())
        digest.update("\n".join(self.topics).encode())
        return digest.hexdigest()[:16]

    def tables_for(self, version: int) -> dict[str, sa.Table]:
        """The Table objects of one version, keyed by base name."""
        if version not in self._tables:
            metadata = sa.MetaData()
            names: dict[str, str] = {}

            def versioned(base: str) -> str:
                names[f"{base}_v{version}"] = base
                return f"{base}_v{version}"

            for builder in self._builders:
                builder(metadata, versioned)
            self._tables[version] = {names[t.name]: t for t in metadata.sorted_tables}
        return self._tables[version]


Shape = tuple[str, str, tuple[str, ...], tuple[str, ...]]
"""(kind, table, columns, key-or-where columns): writes of one shape share one statement."""


class ProjectionTx:
    """The handlers' view of one batch transaction.

    Writes are buffered and flushed in bulk (consecutive writes of one shape become a single
    executemany, built once per shape), which is what lets a projector apply thousands of
    events a second. Reading through ``execute`` flushes first, so handlers always see their
    own writes.
    """

    _statements: ClassVar[dict[tuple[int, Shape, bool], sa.Executable]] = {}

    def __init__(self, conn: Connection, tables: dict[str, sa.Table]) -> None:
        self.memo: dict[str, Any] = {}
        """What a handler wants to remember for the rest of this batch (and no longer)."""
        self.conn = conn
        self._tables = tables
        self._ops: list[tuple[Shape, dict[str, Any]]] = []
        self._refreshes: dict[tuple[str, str, str, tuple[str, ...], Any], None] = {}
        self._postgres = conn.dialect.name == "postgresql"

    def table(self, name: str) -> sa.Table:
        return self._tables[name]

    def insert(self, name: str, row: dict[str, Any]) -> None:
        self._ops.append((("insert", name, tuple(row), ()), row))

    def upsert(
        self, name: str, row: dict[str, Any], key: Sequence[str], latest: Sequence[str] = ()
    ) -> None:
        """Insert or replace the given columns of the row identified by ``key``.

        ``latest`` columns keep the greater of the stored and the new value instead. A row
        fed by events of several aggregates (a user's account and profile) sees them in a
        different order from each Kafka partition than from the log; a column such as
        "updated at" must come out the same whatever that order was."""
        kind = "upsert:" + ",".join(latest) if latest else "upsert"
        self._ops.append(((kind, name, tuple(row), tuple(key)), row))

    def add(self, name: str, key: dict[str, Any], column: str, amount: int) -> None:
        """Add ``amount`` to ``column`` of the row identified by ``key`` (created at
        ``amount`` if missing): a counter, bulk-written like every other write."""
        self._ops.append((("add", name, (column,), tuple(key)), {**key, column: amount}))

    def update(self, name: str, where: dict[str, Any], values: dict[str, Any]) -> None:
        params = {f"w_{k}": v for k, v in where.items()} | {f"v_{c}": v for c, v in values.items()}
        self._ops.append((("update", name, tuple(values), tuple(where)), params))

    def delete(self, name: str, where: dict[str, Any]) -> None:
        params = {f"w_{k}": v for k, v in where.items()}
        self._ops.append((("delete", name, (), tuple(where)), params))

    def refresh_copies(
        self, name: str, source: str, match: str, copied: Sequence[str], value: Any
    ) -> None:
        """Once this batch's writes are flushed, set the ``copied`` columns of ``name``'s
        rows whose ``match`` column is ``value`` from the ``source`` row with the same value.

        For a denormalised table (a copy of a few columns kept for single-table queries):
        however many events of a batch touch one key, its copies are refreshed once, from
        the final state, and the batch stays buffered instead of reading per event.
        """
        self._refreshes[(name, source, match, tuple(copied), value)] = None

    def execute(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        self.flush()
        return self.conn.execute(statement)

    def _statement(self, shape: Shape) -> sa.Executable:
        table = self._tables[shape[1]]
        cache_key = (id(table), shape, self._postgres)
        cached = self._statements.get(cache_key)
        if cached is not None:
            return cached
        kind, _, columns, keys = shape
        stmt: sa.Executable
        if kind == "insert":
            stmt = table.insert()
        elif kind.startswith("upsert"):
            dialect_insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
            updates: dict[str, Any] = {
                c: dialect_insert.excluded[c] for c in columns if c not in keys
            }
            greatest = sa.func.greatest if self._postgres else sa.func.max
            for c in _latest_columns(kind):
                if c in updates:
                    updates[c] = greatest(table.c[c], dialect_insert.excluded[c])
            stmt = (
                dialect_insert.on_conflict_do_update(index_elements=list(keys), set_=updates)
                if updates
                else dialect_insert.on_conflict_do_nothing(index_elements=list(keys))
            )
        elif kind == "add":
            dialect_insert = (postgresql.insert if self._postgres else sqlite.insert)(table)
            stmt = dialect_insert.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: table.c[c] + dialect_insert.excluded[c] for c in columns},
            )
        elif kind == "refresh":
            origin, match = self._tables[keys[0]], keys[1]
            stmt = (
                table.update()
                .where(table.c[match] == sa.bindparam("w_value"))
                .values(
                    {
                        c: sa.select(origin.c[c])
                        .where(origin.c[match] == table.c[match])
                        .scalar_subquery()
                        for c in columns
                    }
                )
            )
        elif kind == "update":
            stmt = (
                table.update()
                .where(*(table.c[k] == sa.bindparam(f"w_{k}") for k in keys))
                .values({c: sa.bindparam(f"v_{c}") for c in columns})
            )
        else:
            stmt = table.delete().where(*(table.c[k] == sa.bindparam(f"w_{k}") for k in keys))
        self._statements[cache_key] = stmt
        return stmt

    def flush(self) -> None:
        """Write the buffer table by table: writes to one table keep their order (runs of
        one shape become one executemany); writes to different tables may be reordered,
        which is safe because read models have no cross-table constraints, every read
        (``execute``) flushes first, and :meth:`refresh_copies` runs last."""
        ops, self._ops = self._ops, []
        by_table: dict[str, list[tuple[Shape, dict[str, Any]]]] = {}
        for op in ops:
            by_table.setdefault(op[0][1], []).append(op)
        refreshes: dict[Shape, list[dict[str, Any]]] = {}
        for name, source, match, copied, value in self._refreshes:
            refreshes.setdefault(("refresh", name, copied, (source, match)), []).append(
                {"w_value": value}
            )
        self._refreshes = {}
        for table_ops in by_table.values():
            for shape, rows in _runs(table_ops):
                self.conn.execute(self._statement(shape), rows)
        for shape, rows in refreshes.items():
            self.conn.execute(self._statement(shape), rows)


def _runs(ops: list[tuple[Shape, dict[str, Any]]]) -> list[tuple[Shape, list[dict[str, Any]]]]:
    """Group one table's writes into bulk statements without changing the outcome.

    A run of upserts with the same key columns is merged per row key (later columns win,
    as they would executing one by one), so handlers that each set a few columns of a row
    still become one statement per column set instead of one round trip per event; a run
    of updates of the same columns keeps the last per key (unless it changes its own key
    columns), and a run of additions to one counter column is summed per key. Any other
    write ends the run, keeping its order against the writes around it.
    """
    grouped: list[tuple[Shape, list[dict[str, Any]]]] = []
    start = 0
    while start < len(ops):
        shape = ops[start][0]
        end = start + 1
        while end < len(ops) and _same_run(shape, ops[end][0]):
            end += 1
        grouped.extend(_merged(shape, [row for _, row in ops[start:end]]))
        start = end
    return grouped


def _same_run(first: Shape, other: Shape) -> bool:
    if first[0].startswith("upsert"):
        return other[0] == first[0] and other[3] == first[3]
    return other == first


def _latest_columns(kind: str) -> list[str]:
    """The ``latest`` columns an upsert's kind names (``upsert:col,col``)."""
    return kind.partition(":")[2].split(",") if ":" in kind else []


def _merged(shape: Shape, rows: list[dict[str, Any]]) -> list[tuple[Shape, list[dict[str, Any]]]]:
    kind, table, columns, keys = shape
    if kind.startswith("upsert"):
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            before = merged.get(key, {})
            merged[key] = {**before, **row}
            for c in _latest_columns(kind):
                if before.get(c) is not None and row.get(c) is not None:
                    merged[key][c] = max(before[c], row[c])
        by_shape: dict[Shape, list[dict[str, Any]]] = {}
        for row in merged.values():
            by_shape.setdefault((kind, table, tuple(sorted(row)), keys), []).append(row)
        return list(by_shape.items())
    if kind == "update" and not set(columns) & set(keys):
        # Only the last update of a row lasts (a busy chat room's "last message" is then
        # written once per batch, not once per message).
        latest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            latest.pop(key := tuple(row[f"w_{k}"] for k in keys), None)
            latest[key] = row
        return [(shape, list(latest.values()))]
    if kind == "add":
        sums: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            if key in sums:
                sums[key][columns[0]] += row[columns[0]]
            else:
                sums[key] = dict(row)
        return [(shape, list(sums.values()))]
    return [(shape, rows)]


_system = sa.MetaData()
tracking_table = sa.Table(
    "projection_tracking",
    _system,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
versions_table = sa.Table(
    "projection_versions",
    _system,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("active", sa.Integer, nullable=False),
    sa.Column("building", sa.Integer, nullable=True),
)
schemas_table = sa.Table(
    "projection_schemas",
    _system,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)
"""The :attr:`Projection.fingerprint` each version's tables were created with."""
errors_table = sa.Table(
    "projection_errors",
    _system,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
)
"""``status``: ``failing`` (retried with backoff), ``skip`` (operator asked to skip it),
``skipped`` (passed over by operator command), ``resolved`` (a later retry succeeded)."""


class PoisonEvent(Exception):
    """A handler failed on one event; the batch before it was committed."""

    def __init__(
        self, event: RecordedEvent, error: BaseException, partition: int, index: int
    ) -> None:
        super().__init__(f"position {event.position} ({event.topic}): {error!r}")
        self.event = event
        self.error = error
        self.partition = partition
        self.index = index


@dataclass
class BatchResult:
    applied: int = 0
    skipped_duplicates: int = 0
    last_position: int = 0
    poison: PoisonEvent | None = None
    positions: list[int] = field(default_factory=list)


def create_engine(url: str, pool_size: int = 10) -> Engine:
    """A read-model engine. SQLite gets WAL (readers never block the writer) and explicit
    BEGINs so transactions really are transactions; every batch writes its tracking row
    first, so a write lock is taken at the start and never upgraded mid-transaction."""
    # JSON columns (profile lists, settings) are decoded on every list read: orjson does
    # it several times faster than the stdlib default.
    codec: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=20,
            max_overflow=20,
            **codec,
        )

        @sa_event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @sa_event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    # Every connection the pool ever opens stays open: SQLAlchemy closes an overflow
    # connection as soon as it is returned, and a projector's many runner threads made
    # that a new PostgreSQL backend (a fork and a cold catalogue cache) every few
    # transactions. The bound is the same as ``pool_size`` plus as many overflow.
    return sa.create_engine(
        url, pool_size=2 * pool_size, max_overflow=0, pool_pre_ping=True, **codec
    )


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _now() -> datetime:
    return datetime.now(UTC)


class ReadModels:
    """Owns the read-model database: versions, tracking, errors, and applying batches."""

    def __init__(self, engine: Engine, projections: Iterable[Projection]) -> None:
        self.engine = engine
        self.projections = {p.name: p for p in projections}
        self._active_cache: dict[str, tuple[float, int]] = {}
        _system.create_all(engine)

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
        with self.engine.connect() as conn:
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
            for table in (tracking_table, schemas_table):
                conn.execute(
                    table.delete().where(
                        table.c.projection == projection.name, table.c.version == version
                    )
                )

    def active_version(self, name: str, *, fresh: bool = False) -> int:
        """The version queries read; cached for a second because it changes only on rebuild."""
        cached = self._active_cache.get(name)
        if cached and not fresh and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(versions_table.c.active).where(versions_table.c.projection == name)
            ).scalar_one_or_none()
        version = version or 1
        self._active_cache[name] = (time.monotonic(), version)
        return version

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
        self._active_cache.pop(projection.name, None)
        return int(previous)

    # -- tracking -----------------------------------------------------------------------
    def tracking(self, name: str, version: int) -> dict[int, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tracking_table.c.partition, tracking_table.c.position).where(
                    tracking_table.c.projection == name, tracking_table.c.version == version
                )
            ).all()
        return {int(r.partition): int(r.position) for r in rows}

    def applied_upto(self, tracking: dict[int, int], partition: int) -> int:
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
        """Whether the active version has applied the event at ``position``.

        ``partition`` names the Kafka partition the event's aggregate maps to; ``None`` means
        only the log is consulted (the embedded mode).
        """
        tracking = self.tracking(name, self.active_version(name))
        return self.applied_upto(tracking, LOG if partition is None else partition) >= position

    # -- applying -----------------------------------------------------------------------
    def apply_batch(
        self,
        projection: Projection,
        version: int,
        partition: int,
        events: Sequence[RecordedEvent],
        *,
        skip_positions: frozenset[int] = frozenset(),
        seen_upto: int = 0,
    ) -> BatchResult:
        """Apply events of one partition in one transaction, together with the tracking row.

        On a handler failure the transaction is rolled back and the events before the
        failing one are applied again on their own, so progress is never lost to a poison
        event; the failure is returned for the runner to record and retry.
        """
        try:
            return self._apply(
                projection,
                version,
                partition,
                events,
                skip_positions=skip_positions,
                seen_upto=seen_upto,
                careful=False,
            )
        except Exception:
            # Some event in the batch fails: find which, one flush per event this time.
            return self._apply(
                projection,
                version,
                partition,
                events,
                skip_positions=skip_positions,
                seen_upto=seen_upto,
                careful=True,
            )

    def _apply(
        self,
        projection: Projection,
        version: int,
        partition: int,
        events: Sequence[RecordedEvent],
        *,
        skip_positions: frozenset[int],
        seen_upto: int,
        careful: bool,
    ) -> BatchResult:
        """One transaction. Fast mode flushes once per batch; careful mode flushes after
        every event so that a failure is pinned to the event that caused it."""
        result = BatchResult()
        tables = projection.tables_for(version)
        warm_keys([e for e in events if e.topic in projection.handlers])
        try:
            with self.engine.begin() as conn:
                upto = self._lock_tracking(conn, projection.name, version, partition)
                tx = ProjectionTx(conn, tables)
                for index, recorded in enumerate(events):
                    if recorded.position <= upto:
                        result.skipped_duplicates += 1
                        continue
                    handler = projection.handlers.get(recorded.topic)
                    wanted = handler is not None or projection.raw is not None
                    if wanted and recorded.position not in skip_positions:
                        try:
                            if projection.raw is not None:
                                projection.raw(recorded, tx)
                            elif handler is not None:
                                handler(recorded.decode(), tx)
                            if careful:
                                tx.flush()
                        except Exception as exc:
                            if not careful:
                                raise
                            raise PoisonEvent(recorded, exc, partition, index) from exc
                        result.applied += 1
                    upto = recorded.position
                    result.last_position = upto
                    result.positions.append(upto)
                tx.flush()
                if seen_upto > upto:
                    upto = result.last_position = seen_upto
                self._save_tracking(conn, projection.name, version, partition, upto)
            return result
        except PoisonEvent as poison:
            retry = self._apply(
                projection,
                version,
                partition,
                events[: poison.index],
                skip_positions=skip_positions,
                seen_upto=0,
                careful=True,
            )
            retry.poison = poison
            return retry

    def _lock_tracking(self, conn: Connection, name: str, version: int, partition: int) -> int:
        """Lock the partition's tracking row (creating it) and return what it has applied.

        SQLite writes first so that the transaction takes its write lock at once (a read
        lock upgraded later can deadlock); PostgreSQL locks the row it reads and creates it
        only the first time, saving a statement per batch."""
        query = sa.select(tracking_table.c.partition, tracking_table.c.position).where(
            tracking_table.c.projection == name,
            tracking_table.c.version == version,
            tracking_table.c.partition.in_([partition, LOG]),
        )
        if self.postgres:
            query = query.with_for_update()
            rows = {int(r.partition): int(r.position) for r in conn.execute(query)}
            if partition in rows:
                return self.applied_upto(rows, partition)
        self._advance_tracking(conn, name, version, {partition: 0})
        rows = {int(r.partition): int(r.position) for r in conn.execute(query)}
        return self.applied_upto(rows, partition)

    def _advance_tracking(
        self, conn: Connection, name: str, version: int, positions: dict[int, int]
    ) -> None:
        """Create tracking rows or move them forward (never backwards), in one statement."""
        dialect_insert = postgresql.insert if self.postgres else sqlite.insert
        rows = [
            {"projection": name, "version": version, "partition": p, "position": pos,
             "updated_at": _now()}
            for p, pos in positions.items()
        ]  # fmt: skip
        insert = dialect_insert(tracking_table).values(rows)
        statement = insert.on_conflict_do_update(
            index_elements=[tracking_table.c.projection, tracking_table.c.version,
                            tracking_table.c.partition],
            set_={"position": insert.excluded.position, "updated_at": insert.excluded.updated_at},
            where=tracking_table.c.position < insert.excluded.position,
        )  # fmt: skip
        conn.execute(statement)

    def record_progress(
        self, projection: Projection, version: int, positions: dict[int, int]
    ) -> None:
        """Record that ``projection`` has seen every event up to each partition's position
        without applying any: one transaction for all partitions (a runner passing over
        events it has no handler for; see ``ProjectionRunner._pass_over``)."""
        with self.engine.begin() as conn:
            self._advance_tracking(conn, projection.name, version, positions)

    @staticmethod
    def _save_tracking(
        conn: Connection, name: str, version: int, partition: int, position: int
    ) -> None:
        conn.execute(
            tracking_table.update()
            .where(
                tracking_table.c.projection == name,
                tracking_table.c.version == version,
                tracking_table.c.partition == partition,
                tracking_table.c.position < position,
            )
            .values(position=position, updated_at=_now())
        )

    # -- errors -------------------------------------------------------------------------
    def record_error(self, name: str, version: int, poison: PoisonEvent) -> str:
        """Remember a failing event (or count another attempt); returns its status."""
        key = {"projection": name, "version": version, "position": poison.event.position}
        now = _now()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(errors_table.c.attempts, errors_table.c.status).where(
                    *(errors_table.c[k] == v for k, v in key.items())
                )
            ).first()
            if row is None:
                conn.execute(
                    errors_table.insert().values(
                        **key,
                        partition=poison.partition,
                        topic=poison.event.topic,
                        error=repr(poison.error)[:2000],
                        attempts=1,
                        first_seen=now,
                        last_seen=now,
                        status="failing",
                    )
                )
                return "failing"
            conn.execute(
                errors_table.update()
                .where(*(errors_table.c[k] == v for k, v in key.items()))
                .values(attempts=row.attempts + 1, last_seen=now, error=repr(poison.error)[:2000])
            )
            return str(row.status)

    def skip_requests(self, name: str, version: int) -> frozenset[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(errors_table.c.position).where(
                    errors_table.c.projection == name,
                    errors_table.c.version == version,
                    errors_table.c.status == "skip",
                )
            )
            return frozenset(int(r.position) for r in rows)

    def mark_errors(self, name: str, version: int, positions: Iterable[int], status: str) -> None:
        positions = list(positions)
        if not positions:
            return
        with self.engine.begin() as conn:
            conn.execute(
                errors_table.update()
                .where(
                    errors_table.c.projection == name,
                    errors_table.c.version == version,
                    errors_table.c.position.in_(positions),
                    errors_table.c.status.in_(["failing", "skip"]),
                )
                .values(status=status, last_seen=_now())
            )

    def request_skip(self, name: str, position: int) -> bool:
        """Operator command: pass over one failing event of the active version."""
        version = self.active_version(name, fresh=True)
        with self.engine.begin() as conn:
            updated = conn.execute(
                errors_table.update()
                .where(
                    errors_table.c.projection == name,
                    errors_table.c.version == version,
                    errors_table.c.position == position,
                    errors_table.c.status == "failing",
                )
                .values(status="skip")
            ).rowcount
        return bool(updated)

    def status(self, head: int) -> list[dict[str, Any]]:
        """Position, lag and last error of every projection, for operators and metrics."""
        report = []
        stale = set(self.stale())
        with self.engine.connect() as conn:
            versions = {r.projection: r for r in conn.execute(sa.select(versions_table)).all()}
            for name in sorted(self.projections):
                row = versions.get(name)
                active = row.active if row else 1
                tracking = self.tracking(name, active)
                position = max(tracking.values(), default=0)
                error = conn.execute(
                    sa.select(errors_table)
                    .where(
                        errors_table.c.projection == name,
                        errors_table.c.version == active,
                        errors_table.c.status.in_(["failing", "skip"]),
                    )
                    .order_by(errors_table.c.position)
                    .limit(1)
                ).first()
                report.append(
                    {
                        "projection": name,
                        "active_version": active,
                        "building_version": row.building if row else None,
                        "stale": name in stale,
                        "position": position,
                        "partitions": {str(k): v for k, v in sorted(tracking.items())},
                        "lag": max(head - position, 0),
                        "error": None
                        if error is None
                        else {
                            "position": error.position,
                            "topic": error.topic,
                            "error": error.error,
                            "attempts": error.attempts,
                            "status": error.status,
                            "last_seen": error.last_seen.isoformat() if error.last_seen else None,
                        },
                    }
                )
        return report


def rows_where(
    read_models: ReadModels, table: sa.Table, column: str, values: Sequence[Any]
) -> dict[Any, dict[str, Any]]:
    """Rows whose ``column`` is one of ``values``, keyed by it (bulk reads for list views)."""
    if not values:
        return {}
    with read_models.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c[column].in_(list(values)))).all()
    return {getattr(r, column): dict(r._mapping) for r in rows}


def page_of(
    read_models: ReadModels,
    table: sa.Table,
    conditions: Sequence[Any],
    *,
    order_by: Any,
    page: int,
    size: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of rows and the real total (list endpoints answer both)."""
    with read_models.engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*conditions)
        ).scalar_one()
        rows = conn.execute(
            sa.select(table)
            .where(*conditions)
            .order_by(order_by)
            .limit(size)
            .offset((page - 1) * size)
        ).all()
    return [dict(r._mapping) for r in rows], int(total)


@dataclass(frozen=True)
class Window:
    """Rows changed by events at positions in ``(since, upto]``, oldest first, at most
    ``limit`` of them (``None``: all). What an offline client's sync asks each read model."""

    since: int
    upto: int
    limit: int | None

    def rows(
        self, read_models: ReadModels, query: sa.Select[Any], position: Any
    ) -> list[dict[str, Any]]:
        query = query.where(position > self.since, position <= self.upto).order_by(position)
        if self.limit is not None:
            query = query.limit(self.limit)
        with read_models.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def known_topics() -> list[str]:
    return [cls.topic for cls in registry]
