"""The shared log tail serves each follower exactly what the store would have: every event
once, in position order, filtered by topic, including a follower that starts behind the
tail's window and one that follows while several writers append."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from app.runtime import Runtime
from commands.base import CommandContext
from devservices.settings import make_settings
from eventflow.log_tail import LogTail
from eventflow.sources import LogSource
from tests.support import create_counter, increment, wait_for

CTX = CommandContext(actor_id="test")


@pytest.fixture(params=["sqlite", "postgres"])
def rt(request: pytest.FixtureRequest, runtimes: Callable[..., Runtime], tmp_path: Path) -> Runtime:
    if request.param == "sqlite":
        return runtimes(make_settings(tmp_path / "var"), policies=[])
    url = request.getfixturevalue("postgres_url")
    return runtimes(make_settings(tmp_path / "var", database_url=url), policies=[])


@pytest.fixture
def started() -> Iterator[Callable[[LogTail], LogTail]]:
    """Run tails on their own threads, stopped after the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(tail: LogTail) -> LogTail:
        thread = threading.Thread(target=tail.follow, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
        wait_for(lambda: tail.read(0, 1) is not None, "the tail to read the head")
        return tail

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=5)


def _caught_up(tail: LogTail, head: int) -> bool:
    served = tail.read(head - 1, 1)
    return served is not None and [e.position for e in served[0]] == [head]


def _pages(source: LogSource, head: int) -> list[tuple[list[int], int]]:
    """Every page a follower gets until it has seen ``head``."""
    pages = []
    while source.after < head:
        for _, events, seen in source.poll(timeout=5):
            pages.append(([e.position for e in events], seen))
    return pages


def _append(rt: Runtime, counters: int, times: int) -> int:
    for _ in range(counters):
        create_counter(rt.bus, CTX, uuid4(), times=times)
    return rt.store.max_position()


def test_a_follower_in_the_window_gets_the_pages_the_store_gives(
    rt: Runtime, started: Callable[[LogTail], LogTail]
) -> None:
    tail = started(LogTail(rt.store, batch_size=7))
    head = _append(rt, counters=12, times=3)
    wait_for(lambda: _caught_up(tail, head), "the tail to catch up")
    for topics in ((), ("test.Incremented",), ("nobody.Handles",)):
        direct = LogSource(rt.store, after=0, batch_size=5, topics=topics)
        served = LogSource(rt.store, after=0, batch_size=5, topics=topics, tail=tail)
        assert tail.read(served.after, 5, topics) is not None  # really served from memory
        assert _pages(served, head) == _pages(direct, head)


def test_a_follower_behind_the_window_reads_the_store_then_the_tail(
    rt: Runtime, started: Callable[[LogTail], LogTail]
) -> None:
    tail = started(LogTail(rt.store, batch_size=4, capacity=5))
    head = _append(rt, counters=10, times=4)
    wait_for(lambda: _caught_up(tail, head), "the tail to catch up")
    assert tail.read(0, 1) is None  # the window has moved past the start
    follower = LogSource(rt.store, after=0, batch_size=3, tail=tail)
    positions = [p for page, _ in _pages(follower, head) for p in page]
    assert positions == [e.position for e in rt.store.read_all()]


def test_followers_see_every_event_once_while_writers_append(
    rt: Runtime, started: Callable[[LogTail], LogTail]
) -> None:
    tail = started(LogTail(rt.store, batch_size=10, capacity=50))
    counters = [uuid4() for _ in range(3)]
    for counter in counters:
        create_counter(rt.bus, CTX, counter)
    writing = threading.Event()
    seen: list[list[int]] = [[] for _ in range(3)]

    def follow(index: int) -> None:
        source = LogSource(rt.store, after=0, batch_size=4, tail=tail)
        while writing.is_set() or source.after < rt.store.max_position():
            for _, events, _ in source.poll(timeout=0.2):
                seen[index] += [e.position for e in events]

    def write(counter_id: object) -> None:
        for _ in range(40):
            increment(rt.bus, CTX, counter_id)  # type: ignore[arg-type]

    writing.set()
    followers = [threading.Thread(target=follow, args=(i,)) for i in range(3)]
    writers = [threading.Thread(target=write, args=(c,)) for c in counters]
    for thread in followers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writing.clear()
    for thread in followers:
        thread.join(timeout=60)
    stored = [e.position for e in rt.store.read_all()]
    assert len(stored) == 3 + 3 * 40
    assert seen == [stored] * 3


def test_an_append_between_a_read_and_the_wait_is_not_missed(
    runtimes: Callable[..., Runtime], tmp_path: Path
) -> None:
    """SQLite wakes in-process followers with a condition: one that appends between a
    follower's read and its wait must not leave the follower (or the tail) asleep."""
    rt = runtimes(make_settings(tmp_path / "var"), policies=[])
    before = rt.store.appends
    create_counter(rt.bus, CTX, uuid4())  # lands after the follower read, before it waits
    waiter = threading.Thread(
        target=rt.store.wait_for_append, args=(600,), kwargs={"since": before}, daemon=True
    )
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive(), "the follower slept through an append it had not read"
