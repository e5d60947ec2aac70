"""The event store: the ``eventsourcing`` library's recorders with our codec
(``eventflow.codec``).

The library supplies the parts that are hard to get right (one global order where commit
order equals notification order, optimistic concurrency on ``(originator_id, version)``,
connection pooling).

The events table is append-only: database triggers refuse UPDATE, DELETE and TRUNCATE, so not
even a bug elsewhere in the application can rewrite history.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, ProcessRecorder, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteProcessRecorder
from psycopg.conninfo import conninfo_to_dict

from domain.aggregate import Aggregate
from domain.errors import ConcurrencyConflict
from domain.events import DomainEvent
from eventflow.codec import RecordedEvent, decode, encode, recorded
from eventflow.histories import Histories
from infra.database import schema_lock
from infra.keystore import PersonalDataCipher, open_key_store
from infra.settings import Settings

EVENTS_TABLE = "languagemate_events"
TRACKING_TABLE = "languagemate_tracking"
"""How far each policy group has got, written in the transaction that appends the events
its reactions decided (the library's process recorder; SQLite names it ``tracking``)."""
A = TypeVar("A", bound=Aggregate)


class AlreadyTracked(Exception):
    """A tracked append found its position already recorded (a redelivery, another
    process): nothing was appended."""


class EventStore:
    """Append and read events; wakes in-process followers after every append."""

    def __init__(
        self,
        recorder: ProcessRecorder,
        *,
        conninfo: str = "",
        cipher: PersonalDataCipher | None = None,
        history_cache_events: int = 0,
    ) -> None:
        self.recorder = recorder
        self.cipher = cipher
        self.histories = Histories(history_cache_events, cipher)
        self.postgres = bool(conninfo)
        self._conninfo = conninfo
        self._appended = threading.Condition()
        self.appends = 0
        """Appends made through this store object: a follower notes it before it reads, so
        an append between its read and its wait cannot go unnoticed (see ``wait_for_append``)."""
        self._local = threading.local()
        self._listeners: list[psycopg.Connection[Any]] = []

    def load(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate as of its latest event."""
        return cls.replay(aggregate_id, self.events(aggregate_id))

    def events(self, aggregate_id: UUID, after: int = 0) -> Sequence[DomainEvent]:
        """The aggregate's events after version ``after``, each decoded once per process:
        the history kept from an earlier read (``eventflow.histories``) and whatever has
        been appended after it. With nothing kept, only the events asked for are read (and
        not kept: they are not a whole history). :meth:`history` reads every row again."""
        known = self.histories.get(aggregate_id)
        if known is None and after:
            return self.history(aggregate_id, after=after)
        new = self.history(aggregate_id, after=known.version if known else None)
        events = self.histories.extend(aggregate_id, known, new).events
        return [e for e in events if e.version > after] if after else events

    def history(self, aggregate_id: UUID, after: int | None = None) -> list[DomainEvent]:
        """The aggregate's events, or only those after version ``after``."""
        stored = self.recorder.select_events(aggregate_id, gt=after)
        return [decode(s.topic, s.state, cipher=self.cipher) for s in stored]

    def append(self, events: Sequence[DomainEvent], tracking: Tracking | None = None) -> list[int]:
        """Append atomically; a version already taken raises ``ConcurrencyConflict``.

        With ``tracking`` (a policy group's progress) the events and the new position
        commit together: :class:`AlreadyTracked` means another run already went past that
        position, so this run's decisions must be dropped, not appended twice."""
        if not events and tracking is None:
            return []
        try:
            if events:
                stored = [encode(e, self.cipher) for e in events]
                positions = self.recorder.insert_events(stored, tracking=tracking)
            else:
                assert tracking is not None
                self.recorder.insert_tracking(tracking)
                positions = []
        except IntegrityError as exc:
            if tracking is not None and self.tracked(tracking.application_name) >= (
                tracking.notification_id
            ):
                raise AlreadyTracked(tracking.application_name) from exc
            raise ConcurrencyConflict(
                "the data was changed by someone else; reload and try again"
            ) from exc
        if events:
            with self._appended:
                self.appends += 1
                self._appended.notify_all()
        return list(positions or [])

    def tracked(self, name: str) -> int:
        """The position a policy group last recorded under ``name`` (0: none yet)."""
        return self.recorder.max_tracking_id(name) or 0

    def read(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[RecordedEvent]:
        """Events with position > ``after`` in global order (positions may have holes)."""
        notifications = self.recorder.select_notifications(
            after, limit, topics=topics, inclusive_of_start=False
        )
        return [recorded(n, self.cipher) for n in notifications]

    def page(
        self, after: int, limit: int, topics: Sequence[str] = ()
    ) -> tuple[list[RecordedEvent], int]:
        """What a log follower at ``after`` gets next: up to ``limit`` events (of ``topics``)
        and the position up to which it has then seen every event. Commit order equals
        position order, so with a short (topic-filtered) page everything up to the head
        taken before the read has been seen. An unfiltered page needs no head: its last
        event is as far as anything has been committed (one query instead of two, for
        every follower on every append)."""
        if not topics:
            events = self.read(after, limit)
            return events, events[-1].position if events else after
        head = self.max_position()
        if head <= after:
            return [], after
        events = self.read(after, limit, topics)
        seen = head if len(events) < limit else events[-1].position
        return events, max(seen, events[-1].position if events else 0)

    def read_all(self, after: int = 0, batch: int = 1000) -> Iterator[RecordedEvent]:
        while chunk := self.read(after, batch):
            yield from chunk
            after = chunk[-1].position

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def restore(self, rows: Sequence[tuple[int, UUID, int, str, bytes]]) -> None:
        """Insert ``(position, aggregate id, version, topic, state)`` rows keeping their
        positions (importing an export into an empty store: identical positions mean
        identical read models). Only for a store nobody else writes to."""
        datastore: Any = getattr(self.recorder, "datastore", None)
        if self.postgres:
            with datastore.transaction(commit=True) as curs:
                curs.executemany(
                    f"INSERT INTO {EVENTS_TABLE} (notification_id, originator_id, "
                    "originator_version, topic, state) VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
                curs.execute(
                    f"SELECT setval(pg_get_serial_sequence('{EVENTS_TABLE}', 'notification_id'), "
                    f"(SELECT MAX(notification_id) FROM {EVENTS_TABLE}))"
                )
        else:
            with datastore.transaction(commit=True) as curs:
                curs.executemany(
                    f"INSERT INTO {EVENTS_TABLE} (rowid, originator_id, originator_version, "
                    "topic, state) VALUES (?, ?, ?, ?, ?)",
                    [(p, str(a), v, t, s) for p, a, v, t, s in rows],
                )

    def wait_for_append(self, timeout: float, since: int | None = None) -> None:
        """Block until an append or the timeout; with ``since`` (``appends`` as the caller
        read it before its last read), not at all if an append has happened since.

        PostgreSQL: the recorder NOTIFYs on every insert, so a LISTEN connection (one per
        thread, which keeps notifications that arrive between waits) wakes followers in
        other processes too. SQLite: in-process appends wake followers at once; other
        processes are picked up by the caller's next poll.
        """
        if not self.postgres:
            with self._appended:
                if since is None or since == self.appends:
                    self._appended.wait(timeout)
            return
        listener = getattr(self._local, "listener", None)
        if listener is None or listener.closed:
            listener = psycopg.connect(self._conninfo, autocommit=True)
            listener.execute(f"LISTEN {EVENTS_TABLE}")
            self._local.listener = listener
            self._listeners.append(listener)
        for _ in listener.notifies(timeout=timeout, stop_after=1):
            pass
        # Appends that arrived meanwhile are covered by the caller's next read: one wake-up
        # for all of them, not one (and an empty read) each.
        for _ in listener.notifies(timeout=0):
            pass

    def check(self) -> None:
        self.max_position()

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()


def _postgres_datastore(url: str, pool_size: int, pool_timeout: float) -> PostgresDatastore:
    info = conninfo_to_dict(url)
    return PostgresDatastore(
        dbname=str(info.get("dbname") or "postgres"),
        host=str(info.get("host") or "127.0.0.1"),
        port=str(info.get("port") or 5432),
        user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""),
        pool_size=pool_size,
        max_overflow=pool_size,
        max_waiting=64,
        connect_timeout=pool_timeout,  # psycopg_pool's wait for a connection, not a connect's
        # No pre-ping: it costs a round trip per command (measured: ~15% of single-event
        # command throughput); the pool discards broken connections when they are returned.
        pre_ping=False,
    )


_PG_GUARDS = f"""
CREATE OR REPLACE FUNCTION {EVENTS_TABLE}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'stored events are append-only (% refused)', TG_OP; END $$;
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_no_update_delete BEFORE UPDATE OR DELETE
  ON {EVENTS_TABLE} FOR EACH ROW EXECUTE FUNCTION {EVENTS_TABLE}_refuse_change();
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_no_truncate BEFORE TRUNCATE
  ON {EVENTS_TABLE} FOR EACH STATEMENT EXECUTE FUNCTION {EVENTS_TABLE}_refuse_change();
CREATE OR REPLACE VIEW {EVENTS_TABLE}_json AS
  SELECT notification_id AS position, originator_id AS aggregate_id,
         originator_version AS version, topic, convert_from(state, 'UTF8')::jsonb AS event
  FROM {EVENTS_TABLE};
"""

_SQLITE_GUARDS = [
    f"CREATE TRIGGER IF NOT EXISTS {EVENTS_TABLE}_no_update BEFORE UPDATE ON {EVENTS_TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'stored events are append-only (UPDATE refused)'); END",
    f"CREATE TRIGGER IF NOT EXISTS {EVENTS_TABLE}_no_delete BEFORE DELETE ON {EVENTS_TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'stored events are append-only (DELETE refused)'); END",
    f"CREATE VIEW IF NOT EXISTS {EVENTS_TABLE}_json AS SELECT rowid AS position, "
    "originator_id AS aggregate_id, originator_version AS version, topic, "
    f"CAST(state AS TEXT) AS event FROM {EVENTS_TABLE}",
]


def open_event_store(settings: Settings) -> EventStore:
    """Open (and create if needed) the event store the settings describe."""
    cipher = PersonalDataCipher(open_key_store(settings))
    if settings.database_url:
        pg_datastore = _postgres_datastore(
            settings.database_url, settings.db_pool_size, settings.db_pool_timeout_seconds
        )
        pg_recorder = PostgresProcessRecorder(
            pg_datastore, events_table_name=EVENTS_TABLE, tracking_table_name=TRACKING_TABLE
        )
        with schema_lock(settings.database_url):
            pg_recorder.create_table()
            with pg_datastore.transaction(commit=True) as curs:
                curs.execute(_PG_GUARDS.encode())
        return EventStore(
            pg_recorder,
            conninfo=settings.database_url,
            cipher=cipher,
            history_cache_events=settings.history_cache_events,
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sqlite_datastore = SQLiteDatastore(str(settings.event_store_sqlite_path), lock_timeout=30)
    sqlite_recorder = SQLiteProcessRecorder(sqlite_datastore, events_table_name=EVENTS_TABLE)
    sqlite_recorder.create_table()
    with sqlite_datastore.transaction(commit=True) as c:
        for statement in _SQLITE_GUARDS:
            c.execute(statement)
    return EventStore(
        sqlite_recorder, cipher=cipher, history_cache_events=settings.history_cache_events
    )
