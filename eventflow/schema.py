"""The engine's own tables (tracking, versions, schemas, parked events) and how a
read-model database is opened."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine

LOG = -1
"""The tracking partition of the notification log (Kafka partitions are 0..n)."""

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
parked_table = sa.Table(
    "projection_parked",
    _system,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("partition", sa.Integer, nullable=False),
    sa.Column("aggregate_id", sa.String(36), nullable=False),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Index("projection_parked_sequence", "projection", "version", "aggregate_id"),
)
"""Events a member of a processing group could not apply, and those of the same
aggregate behind them (a sequenced dead-letter queue, as in Axon): ``failing`` (the
sequence's head, retried with backoff), ``queued`` (waits behind the head, so one
aggregate's events keep their order), ``skip`` (an operator asked to pass over the head),
``skipped`` and ``resolved`` (done; kept for the record)."""
OPEN = ("failing", "queued", "skip")
"""Statuses of events still parked."""


WRITE_LOCK_FIRST = "languagemate_write_lock_first"
"""Execution option: on SQLite, begin by taking the write lock (``BEGIN IMMEDIATE``)."""


def now() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str, pool_size: int = 10, pool_timeout: float = 30.0) -> Engine:
    """A read-model engine. SQLite gets WAL (readers never block the writer) and explicit
    BEGINs so transactions really are transactions; a transaction with the execution option
    :data:`WRITE_LOCK_FIRST` (every batch) takes the write lock at the start, so it is never
    upgraded mid-transaction."""
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
            immediate = conn.get_execution_options().get(WRITE_LOCK_FIRST, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # Every connection the pool ever opens stays open: SQLAlchemy closes an overflow
    # connection as soon as it is returned, and a projector's many runner threads made
    # that a new PostgreSQL backend (a fork and a cold catalogue cache) every few
    # transactions. The bound is the same as ``pool_size`` plus as many overflow. A
    # request that waits ``pool_timeout`` for one is answered 503 (api/errors.py).
    # No pre-ping (a ``SELECT 1`` round trip before every read, batch and reaction, as the
    # event store's pool already does without): a connection the server dropped fails its
    # first statement instead, as a 503 with Retry-After (api/errors.py) or a retried batch,
    # and SQLAlchemy then discards every connection the pool held. So after a server restart
    # each process fails the requests that were holding a connection at that moment (at
    # most the pool's size) or, when it was idle, one.
    return sa.create_engine(url, pool_size=2 * pool_size, max_overflow=0,
                            pool_timeout=pool_timeout, **codec)  # fmt: skip


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
