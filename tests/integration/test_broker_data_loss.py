"""A Kafka broker that loses its data (Tansu with memory storage, restarted) must cost
nothing: the relay notices and republishes the history, and a consumer whose offsets point
into the rebuilt, shorter log notices the gap instead of skipping events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from app.runtime import Runtime
from commands.base import CommandContext
from devservices import Tansu
from devservices.settings import make_settings
from eventflow.projection import Projection
from eventflow.relay import Relay
from eventflow.runner import GroupRunner
from eventflow.sources import KafkaSource
from tests.support import counter_values, follow, increment, make_counters_projection

pytestmark = pytest.mark.kafka


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Tansu]:
    with Tansu(log_path=tmp_path / "tansu.log") as tansu:
        yield tansu


@pytest.fixture
def system(
    broker: Tansu,
    postgres_url: str,
    tmp_path: Path,
    unique_name: Callable[[str], str],
    runtimes: Callable[..., Runtime],
) -> tuple[Runtime, Projection]:
    projection = make_counters_projection()
    settings = make_settings(
        tmp_path / "var",
        database_url=postgres_url,
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=unique_name("events"),
        kafka_group_prefix=unique_name("group"),
        kafka_partitions=3,
    )
    return runtimes(settings, projections=[projection], policies=[]), projection


def _write(rt: Runtime, counters: list[UUID], expected: dict[str, tuple[int, int]]) -> None:
    for counter in counters:
        increment(rt.bus, CommandContext(), counter, 2)
        value, events = expected.get(str(counter), (0, 0))
        expected[str(counter)] = (value + 2, events + 1)


def _drain(
    runner: GroupRunner,
    source: KafkaSource,
    done: Callable[[], bool],
    timeout: float = 40,
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the projection did not catch up"
        runner.step(source)


def test_a_consumer_resuming_into_a_rebuilt_log_rereads_instead_of_skipping(
    system: tuple[Runtime, Projection], broker: Tansu
) -> None:
    rt, projection = system
    counters = [uuid4() for _ in range(12)]
    expected: dict[str, tuple[int, int]] = {}
    relay = Relay(rt.store, rt.settings)
    after = 0
    # Five rounds, each followed by ticks: the old log holds 5 tick records per partition.
    for _ in range(5):
        _write(rt, counters, expected)
        after = relay.step(after)
        relay.tick(after)
    runner, source = follow(rt, projection, kafka=True)
    assert isinstance(source, KafkaSource)
    try:
        _drain(runner, source, lambda: counter_values(rt.read_models, projection) == expected)
        relay.close()
        broker.restart()
        # A restarted relay process: it reads its marks back and finds the broker short.
        relay = Relay(rt.store, rt.settings)
        assert relay.lost_partitions(), "the relay must see that acknowledged records are gone"
        after = relay.verified(relay.position.load())
        assert after == 0
        _write(rt, counters, expected)
        # Republished without ticks, so the consumer's old offsets land past records it has
        # never applied: only the prev-position check keeps it from skipping them.
        while after < rt.store.max_position():
            after = relay.step(after)
        _drain(runner, source, lambda: counter_values(rt.read_models, projection) == expected)
    finally:
        source.close()
        relay.close()
    assert counter_values(rt.read_models, projection) == expected
    relay = Relay(rt.store, rt.settings)
    try:
        assert relay.lost_partitions() == {}, "a healthy broker must not look like a lossy one"
    finally:
        relay.close()


def test_a_running_relay_republishes_after_the_broker_restarts(
    system: tuple[Runtime, Projection], broker: Tansu
) -> None:
    rt, projection = system
    counters = [uuid4() for _ in range(6)]
    expected: dict[str, tuple[int, int]] = {}
    # The relay as the relay role runs it: supervised, restarted a second after a crash.
    relay = rt.start_relay()
    _write(rt, counters, expected)
    deadline = time.monotonic() + 20
    while relay.position.load() < rt.store.max_position():
        assert time.monotonic() < deadline, "the relay did not publish"
        time.sleep(0.1)
    broker.restart()
    _write(rt, counters, expected)
    # A consumer group that starts after the restart finds the whole history again.
    runner, source = follow(rt, projection, kafka=True)
    assert isinstance(source, KafkaSource)
    try:
        _drain(runner, source, lambda: counter_values(rt.read_models, projection) == expected)
    finally:
        source.close()
    assert counter_values(rt.read_models, projection) == expected
