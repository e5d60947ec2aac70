"""One projector contract, passed by both event sources: the notification log (embedded,
SQLite) and Kafka (distributed, PostgreSQL + relay + consumer group)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from commands.base import CommandContext
from infra.event_store import RecordedEvent
from infra.rebuild import rebuild
from infra.relay import Relay
from infra.runners import ProjectionRunner
from infra.runtime import Runtime
from infra.sources import EventSource
from projections.engine import Projection, create_engine
from tests.conftest import make_settings
from tests.support import PoisonSwitch, counter_values, increment, make_counters_projection


@dataclass
class Harness:
    rt: Runtime
    projection: Projection
    kafka: bool
    relay: Relay | None = None

    def publish(self) -> None:
        """Make everything stored visible to the source (Kafka: run the relay to the head)."""
        if self.relay is not None:
            position = self.relay.position.load()
            while position < self.rt.store.max_position():
                position = self.relay.step(position)

    def source(self, version: int = 1) -> EventSource:
        factory = self.rt.kafka_source if self.kafka else self.rt.log_source
        tracking = self.rt.read_models.tracking(self.projection.name, version)
        return factory(self.projection, version, tracking)

    def runner(self, version: int | None = None) -> ProjectionRunner:
        return ProjectionRunner(
            self.rt.read_models,
            self.projection,
            self.rt.kafka_source if self.kafka else self.rt.log_source,
            poll_seconds=0.2,
            retry_max_seconds=0.2,
            version=version,
        )

    def drain(
        self,
        runner: ProjectionRunner,
        source: EventSource,
        until: Callable[[], bool],
        timeout: float = 30,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "projection did not catch up in time"
            runner.step(source, runner._version())

    def values(self) -> dict[str, tuple[int, int]]:
        return counter_values(self.rt.read_models, self.projection)

    def applied(self, position: int) -> bool:
        """Every event up to ``position`` is applied, in whichever partition it lives."""
        read_models = self.rt.read_models
        version = read_models.active_version(self.projection.name, fresh=True)
        tracking = read_models.tracking(self.projection.name, version)
        last: dict[int, int] = {}
        for event in self.rt.store.read(0, position):
            if event.position <= position:
                partition = self.rt.partition_of(event.aggregate_id)
                last[-1 if partition is None else partition] = event.position
        return all(read_models.applied_upto(tracking, p) >= pos for p, pos in last.items())


@pytest.fixture(params=["log", "kafka"])
def harness(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> Iterator[Harness]:
    PoisonSwitch.armed = True
    projection = make_counters_projection()
    services = (
        {}
        if request.param == "log"
        else {
            "postgres_url": request.getfixturevalue("postgres_url"),
            "kafka_bootstrap": request.getfixturevalue("kafka_bootstrap"),
        }
    )
    # Requested after the services so that it is torn down before them.
    runtimes: Callable[..., Runtime] = request.getfixturevalue("runtimes")
    if request.param == "log":
        settings = make_settings(tmp_path / "var", projection_batch_size=7)
        yield Harness(
            runtimes(settings, projections=[projection], policies=[]), projection, kafka=False
        )
        return
    settings = make_settings(
        tmp_path / "var",
        database_url=services["postgres_url"],
        kafka_bootstrap=services["kafka_bootstrap"],
        kafka_topic=unique_name("events"),
        kafka_group_prefix=unique_name("group"),
        kafka_partitions=3,
        projection_batch_size=7,
    )
    rt = runtimes(settings, projections=[projection], policies=[])
    relay = Relay(rt.store, settings)
    yield Harness(rt, projection, kafka=True, relay=relay)
    relay.close()


def _write(h: Harness, counters: list[UUID], rounds: int) -> dict[str, int]:
    expected: dict[str, int] = {}
    for r in range(rounds):
        for index, counter in enumerate(counters):
            increment(h.rt.bus, CommandContext(), counter, index + r + 1)
            expected[str(counter)] = expected.get(str(counter), 0) + index + r + 1
    return expected


def test_every_event_is_applied_exactly_once(harness: Harness) -> None:
    counters = [uuid4() for _ in range(5)]
    expected = _write(harness, counters, rounds=6)
    harness.publish()
    runner, source = harness.runner(), harness.source()
    try:
        harness.drain(runner, source, lambda: harness.applied(harness.rt.store.max_position()))
    finally:
        source.close()
    assert harness.values() == {k: (v, 6) for k, v in expected.items()}


def test_projector_crashed_between_batches_resumes_without_double_apply(harness: Harness) -> None:
    counters = [uuid4() for _ in range(4)]
    expected = _write(harness, counters, rounds=10)
    harness.publish()
    head = harness.rt.store.max_position()
    first_runner, first_source = harness.runner(), harness.source()
    harness.drain(first_runner, first_source, lambda: harness.applied(10))
    # Crash: the source goes away without a clean shutdown (Kafka offsets may be stale).
    if harness.kafka:
        first_source.consumer.close(autocommit=False)  # type: ignore[attr-defined]
    partial = harness.values()
    assert sum(events for _, events in partial.values()) < 40
    second_runner, second_source = harness.runner(), harness.source()
    try:
        harness.drain(second_runner, second_source, lambda: harness.applied(head))
    finally:
        second_source.close()
    assert harness.values() == {k: (v, 10) for k, v in expected.items()}


def test_redelivered_events_are_applied_once(harness: Harness) -> None:
    counters = [uuid4() for _ in range(3)]
    expected = _write(harness, counters, rounds=4)
    harness.publish()
    head = harness.rt.store.max_position()
    runner, source = harness.runner(), harness.source()
    harness.drain(runner, source, lambda: harness.applied(head))
    source.close()
    # Deliver the whole history a second time.
    if harness.relay is not None:
        harness.relay.position.save(0)
        harness.publish()
        group = harness.rt.settings.kafka_group_prefix + ".again"
        from infra.sources import KafkaSource

        again = KafkaSource(harness.rt.settings, group)
        deadline = time.monotonic() + 30
        redelivered = 0
        while redelivered < 2 * head and time.monotonic() < deadline:
            for partition, events, _ in again.poll(0.5):
                result = harness.rt.read_models.apply_batch(
                    harness.projection, 1, partition, events
                )
                assert result.applied == 0
                redelivered += len(events)
        again.close()
        assert redelivered >= 2 * head
    else:
        events = harness.rt.store.read(0, 1000)
        result = harness.rt.read_models.apply_batch(harness.projection, 1, -1, events)
        assert (result.applied, result.skipped_duplicates) == (0, len(events))
    assert harness.values() == {k: (v, 4) for k, v in expected.items()}


def test_poison_event_is_recorded_retried_and_skipped_only_by_operator(harness: Harness) -> None:
    counter = uuid4()
    increment(harness.rt.bus, CommandContext(), counter, 1)
    bad = increment(harness.rt.bus, CommandContext(), counter, 100, poison=True)
    increment(harness.rt.bus, CommandContext(), counter, 10)
    harness.publish()
    poison_position = bad.last_position
    runner, source = harness.runner(), harness.source()
    try:
        harness.drain(runner, source, lambda: runner.failing.get(poison_position, 0) >= 3)
        status = {
            s["projection"]: s
            for s in harness.rt.read_models.status(harness.rt.store.max_position())
        }
        error = status["counters"]["error"]
        assert error["position"] == poison_position and error["status"] == "failing"
        assert "poison event" in error["error"] and error["attempts"] >= 3
        assert harness.values() == {str(counter): (1, 1)}  # stopped at the poison event
        assert harness.rt.read_models.request_skip("counters", poison_position)
        harness.drain(runner, source, lambda: harness.applied(harness.rt.store.max_position()))
    finally:
        source.close()
    assert harness.values() == {str(counter): (11, 2)}
    status = {
        s["projection"]: s for s in harness.rt.read_models.status(harness.rt.store.max_position())
    }
    assert status["counters"]["error"] is None and status["counters"]["lag"] == 0


def test_poison_event_fixed_by_a_deploy_is_applied_on_retry(harness: Harness) -> None:
    counter = uuid4()
    bad = increment(harness.rt.bus, CommandContext(), counter, 5, poison=True)
    harness.publish()
    runner, source = harness.runner(), harness.source()
    try:
        harness.drain(runner, source, lambda: runner.failing.get(bad.last_position, 0) >= 2)
        PoisonSwitch.armed = False
        harness.drain(runner, source, lambda: harness.applied(bad.last_position))
    finally:
        source.close()
    assert harness.values() == {str(counter): (5, 1)}
    assert not runner.failing


def test_rebuild_switches_versions_while_queries_keep_answering(harness: Harness) -> None:
    counters = [uuid4() for _ in range(5)]
    expected = _write(harness, counters, rounds=8)
    harness.publish()
    runner, source = harness.runner(), harness.source()
    harness.drain(runner, source, lambda: harness.applied(harness.rt.store.max_position()))
    source.close()
    answers: list[dict[str, tuple[int, int]]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            try:
                answers.append(harness.values())
            except BaseException as exc:
                failures.append(exc)
            time.sleep(0.005)

    reader = threading.Thread(target=query)
    reader.start()
    try:
        result = rebuild(harness.rt, "counters")
    finally:
        stop.set()
        reader.join()
    assert (result["version"], result["previous"]) == (2, 1)
    assert not failures
    final = {k: (v, 8) for k, v in expected.items()}
    assert len(answers) > 10 and all(answer == final for answer in answers)
    assert harness.rt.read_models.active_version("counters", fresh=True) == 2
    assert harness.values() == final
    # The live projector continues on the new version without re-applying history.
    increment(harness.rt.bus, CommandContext(), counters[0], 1000)
    harness.publish()
    runner2, source2 = harness.runner(), harness.source(2)
    try:
        harness.drain(runner2, source2, lambda: harness.applied(harness.rt.store.max_position()))
    finally:
        source2.close()
    value, events = harness.values()[str(counters[0])]
    assert (value, events) == (expected[str(counters[0])] + 1000, 9)


def test_events_passed_over_are_recorded_and_progress_never_moves_back(harness: Harness) -> None:
    """A projection with no handler for what arrives records only how far it has seen, for
    every partition in one write, and a stale record (a slower replica) cannot lower it."""
    counters = [uuid4() for _ in range(6)]
    _write(harness, counters, rounds=3)
    harness.publish()
    head = harness.rt.store.max_position()
    bystander = Projection("bystander")
    read_models = harness.rt.read_models
    factory = harness.rt.kafka_source if harness.kafka else harness.rt.log_source
    runner = ProjectionRunner(read_models, bystander, factory, poll_seconds=0.2, version=1)
    source = factory(bystander, 1, {})
    heads: dict[int, int] = {}
    for event in harness.rt.store.read(0, head):
        partition = harness.rt.partition_of(event.aggregate_id)
        heads[-1 if partition is None else partition] = event.position
    try:
        deadline = time.monotonic() + 30
        while read_models.tracking("bystander", 1) != heads:
            assert time.monotonic() < deadline, read_models.tracking("bystander", 1)
            assert runner.step(source, 1) == 0
    finally:
        source.close()
    stale = {partition: position - 1 for partition, position in heads.items()}
    read_models.record_progress(bystander, 1, stale | {99: 5})
    assert read_models.tracking("bystander", 1) == heads | {99: 5}


class _TimedSource:
    """An event source that remembers when it was polled."""

    def __init__(self, inner: EventSource) -> None:
        self.inner = inner
        self.polled_at: list[float] = []

    def poll(self, timeout: float) -> list[tuple[int, list[RecordedEvent], int]]:
        self.polled_at.append(time.monotonic())
        return self.inner.poll(timeout)

    def committed(self, partition: int, events: Sequence[RecordedEvent]) -> None:
        self.inner.committed(partition, events)

    def rewind(self, partition: int, unapplied: Sequence[RecordedEvent]) -> None:
        self.inner.rewind(partition, unapplied)

    def close(self) -> None:
        self.inner.close()


def test_a_busy_runner_lets_events_gather_for_its_batch_window(harness: Harness) -> None:
    """After a transaction the runner polls again only once its batch window has passed,
    so what arrives meanwhile is applied together; an idle runner polls at once."""
    counters = [uuid4() for _ in range(2)]
    _write(harness, counters, rounds=1)
    harness.publish()
    runner = ProjectionRunner(
        harness.rt.read_models,
        harness.projection,
        harness.rt.kafka_source if harness.kafka else harness.rt.log_source,
        poll_seconds=0.2,
        batch_window_seconds=0.4,
        version=1,
    )
    source = _TimedSource(harness.source())
    try:
        while not runner.step(source, 1):
            assert runner.applied_at == float("-inf")  # nothing applied: no waiting
        first = runner.applied_at
        expected = _write(harness, counters, rounds=3)
        harness.publish()
        harness.drain(runner, source, lambda: harness.applied(harness.rt.store.max_position()))
    finally:
        source.close()
    assert first > float("-inf")
    later = [at for at in source.polled_at if at > first]
    assert later and later[0] - first >= 0.4
    assert {k: v[1] for k, v in harness.values().items()} == dict.fromkeys(expected, 4)


def test_read_model_connections_are_reused_across_bursts(postgres_url: str) -> None:
    """Bursts of concurrent transactions reuse the pool's connections: SQLAlchemy closed
    every connection beyond the pool's size as it was returned, so each burst of a
    projector's runner threads forked new PostgreSQL backends (a cold cache each)."""
    engine = create_engine(postgres_url, pool_size=2)
    backends: set[int] = set()
    burst = threading.Barrier(4)

    def transaction() -> None:
        with engine.begin() as conn:
            burst.wait(timeout=10)  # all four hold a connection at once
            backends.add(int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()))

    for _ in range(5):
        threads = [threading.Thread(target=transaction) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    engine.dispose()
    assert len(backends) == 4
