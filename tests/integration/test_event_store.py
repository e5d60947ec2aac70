"""One event-store contract, passed by SQLite (embedded) and PostgreSQL (distributed)."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from uuid import uuid4

import psycopg
import pytest

from commands.base import CommandBus, CommandContext
from domain.aggregate import Cause
from domain.errors import ConcurrencyConflict
from domain.system import CommandHandled
from eventflow.store import EVENTS_TABLE, EventStore, open_event_store
from infra.settings import Settings
from tests.support import Counter, Incremented, increment


def _cause() -> Cause:
    return Cause(occurred_at=datetime.now(UTC), correlation_id=uuid4(), actor_id="tester")


def raw_sql(settings: Settings, statement: str) -> None:
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(statement.encode())
    else:
        with sqlite3.connect(settings.event_store_sqlite_path) as conn:
            conn.execute(statement)


def test_appended_events_reload_into_the_same_state(store: EventStore) -> None:
    counter = Counter(uuid4())
    counter.increment(_cause(), 2)
    counter.increment(_cause(), 3)
    positions = store.append(counter.collect())
    loaded = store.load(Counter, counter.id)
    assert loaded is not None and (loaded.value, loaded.version) == (5, 2)
    assert positions == sorted(positions) and len(positions) == 2
    history = store.history(counter.id)
    assert [e.meta.event_id for e in history] == [e.meta.event_id for e in history]
    assert {e.meta.actor_id for e in history} == {"tester"}


def test_stale_version_raises_a_concurrency_conflict_and_appends_nothing(store: EventStore) -> None:
    counter = Counter(uuid4())
    counter.increment(_cause())
    store.append(counter.collect())
    first, second = store.load(Counter, counter.id), store.load(Counter, counter.id)
    assert first and second
    first.increment(_cause())
    second.increment(_cause(), 10)
    store.append(first.collect())
    head = store.max_position()
    with pytest.raises(ConcurrencyConflict):
        store.append(second.collect())
    assert store.max_position() == head
    reloaded = store.load(Counter, counter.id)
    assert reloaded and reloaded.value == 2


def test_a_batch_with_one_conflicting_event_appends_none_of_it(store: EventStore) -> None:
    taken, fresh = Counter(uuid4()), Counter(uuid4())
    taken.increment(_cause())
    store.append(taken.collect())
    stale = Counter(taken.id)
    stale.increment(_cause())
    fresh.increment(_cause())
    with pytest.raises(ConcurrencyConflict):
        store.append([*fresh.collect(), *stale.collect()])
    assert store.load(Counter, fresh.id) is None


def test_stored_events_cannot_be_updated_or_deleted(store: EventStore, settings: Settings) -> None:
    counter = Counter(uuid4())
    counter.increment(_cause())
    store.append(counter.collect())
    refused = (psycopg.Error, sqlite3.Error)
    with pytest.raises(refused, match="append-only"):
        raw_sql(settings, f"UPDATE {EVENTS_TABLE} SET topic = 'x'")
    with pytest.raises(refused, match="append-only"):
        raw_sql(settings, f"DELETE FROM {EVENTS_TABLE}")
    assert store.load(Counter, counter.id) is not None


def test_stored_json_is_readable_in_the_database(store: EventStore, settings: Settings) -> None:
    counter = Counter(uuid4())
    counter.increment(_cause(), 7)
    store.append(counter.collect())
    query = f"SELECT topic, event FROM {EVENTS_TABLE}_json"
    if settings.database_url:
        with psycopg.connect(settings.database_url) as conn:
            topic, document = conn.execute(query.encode()).fetchone()  # type: ignore[misc]
    else:
        import json

        with sqlite3.connect(settings.event_store_sqlite_path) as conn:
            topic, text = conn.execute(query).fetchone()
            document = json.loads(text)
    assert topic == "test.Incremented"
    assert document["data"] == {"by": 7, "poison": False}
    assert document["meta"]["actor_id"] == "tester"
    assert document["schema_version"] == 1


def test_repeated_idempotency_key_returns_first_outcome_and_appends_nothing(
    store: EventStore, settings: Settings
) -> None:
    counter_id = uuid4()
    bus = CommandBus(store)
    ctx = CommandContext(actor_id="u1", idempotency_key="key-1")
    first = increment(bus, ctx, counter_id, 5)
    head = store.max_position()
    again = increment(bus, ctx, counter_id, 5)
    assert (again.duplicate, again.result) == (True, first.result)
    assert store.max_position() == head
    # Durable: a new process (a new store instance) still knows the key.
    reopened = open_event_store(settings)
    try:
        third = increment(CommandBus(reopened), ctx, counter_id, 5)
        assert third.duplicate and reopened.max_position() == head
        loaded = reopened.load(Counter, counter_id)
        assert loaded and loaded.value == 5
    finally:
        reopened.close()
    # The same key from another actor is another command.
    other = increment(bus, CommandContext(actor_id="u2", idempotency_key="key-1"), counter_id, 1)
    assert not other.duplicate


def test_concurrent_duplicates_of_one_idempotent_command_apply_once(store: EventStore) -> None:
    counter_id = uuid4()
    bus = CommandBus(store)
    ctx = CommandContext(actor_id="u1", idempotency_key="race")
    outcomes = _in_threads(10, lambda _: increment(bus, ctx, counter_id, 1))
    assert sum(not o.duplicate for o in outcomes) == 1
    loaded = store.load(Counter, counter_id)
    assert loaded and loaded.value == 1
    markers = [e for e in store.read_all() if e.topic == CommandHandled.topic]
    assert len(markers) == 1


def _in_threads(n: int, work):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_ten_writers_with_an_expected_version_one_wins_nine_conflicts(store: EventStore) -> None:
    counter_id = uuid4()
    bus = CommandBus(store)
    increment(bus, CommandContext(), counter_id)
    results = _in_threads(
        10, lambda i: increment(bus, CommandContext(expected_version=1), counter_id, 100 + i)
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, ConcurrencyConflict)]
    assert (len(winners), len(conflicts)) == (1, 9)
    loaded = store.load(Counter, counter_id)
    assert loaded and loaded.version == 2
    assert loaded.value == 1 + winners[0].result["value"] - 1  # type: ignore[attr-defined]


def test_ten_writers_without_expected_version_lose_no_update(store: EventStore) -> None:
    counter_id = uuid4()
    bus = CommandBus(store)
    results = _in_threads(10, lambda _: increment(bus, CommandContext(), counter_id, 1))
    assert not [r for r in results if isinstance(r, Exception)]
    loaded = store.load(Counter, counter_id)
    assert loaded and (loaded.value, loaded.version) == (10, 10)


def test_follower_sees_every_event_once_in_commit_order(store: EventStore) -> None:
    bus = CommandBus(store)
    writers, per_writer = 10, 20
    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        after = 0
        while not stop.is_set() or after < store.max_position():
            for event in store.read(after, 50):
                seen.append(event.position)
                after = event.position
            store.wait_for_append(0.01)

    follower = threading.Thread(target=follow)
    follower.start()
    results = _in_threads(
        writers,
        lambda _: [increment(bus, CommandContext(), uuid4(), 1) for _ in range(per_writer)],
    )
    stop.set()
    follower.join(30)
    assert not [r for r in results if isinstance(r, Exception)]
    stored = [e.position for e in store.read_all()]
    assert len(stored) == writers * per_writer
    assert seen == stored  # every event, exactly once, in position (= commit) order
    assert len({e.aggregate_id for e in store.read_all()}) == writers * per_writer
    assert all(isinstance(e.decode(), Incremented) for e in store.read_all())
