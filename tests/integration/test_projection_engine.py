"""One processing-group contract, passed by both event sources: the notification log
(embedded, SQLite) and Kafka (distributed, PostgreSQL + relay + one consumer per group).

The group under test holds three projections of the same events (``counters_a``,
``counters_b``, ``counters_c``): each must end exactly as if it had run alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from app.rebuild import rebuild
from app.runtime import Runtime
from commands.base import CommandContext
from devservices.settings import make_settings
from eventflow import groups
from eventflow.codec import RecordedEvent
from eventflow.groups import ProjectionGroup
from eventflow.projection import Projection
from eventflow.relay import Relay
from eventflow.runner import Applier, GroupRunner
from eventflow.schema import LOG, create_engine
from eventflow.sources import EventSource
from projections.audit import audit
from projections.chat import chat
from projections.matching import matching
from projections.profiles import profiles
from tests.support import PoisonSwitch, counter_values, increment, make_counters_projection

NAMES = ("counters_a", "counters_b", "counters_c")


@dataclass
class Harness:
    rt: Runtime
    projections: list[Projection]
    kafka: bool
    relay: Relay | None = None

    def publish(self) -> None:
        """Make everything stored visible to the source (Kafka: run the relay to the head)."""
        if self.relay is not None:
            position = self.relay.position.load()
            while position < self.rt.store.max_position():
                position = self.relay.step(position)

    @property
    def group(self) -> ProjectionGroup:
        return ProjectionGroup("counters", self.rt.read_models, self.projections,
                               retry_max_seconds=0.2)  # fmt: skip

    def runner(self, group: ProjectionGroup | None = None) -> GroupRunner:
        return GroupRunner(group or self.group, self.factory, self.rt.fetch, poll_seconds=0.2,
                           retry_max_seconds=0.2)  # fmt: skip

    def factory(self, group: Applier, start: dict[int, int]) -> EventSource:
        make = self.rt.kafka_source if self.kafka else self.rt.log_source
        return make(group, start)

    def source(self, runner: GroupRunner) -> EventSource:
        return self.factory(runner.group, runner.group.start())

    def drain(self, runner: GroupRunner, source: EventSource, until: Callable[[], bool],
              timeout: float = 30) -> None:  # fmt: skip
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "the group did not catch up in time"
            runner.step(source)

    def catch_up(self, runner: GroupRunner) -> None:
        """Run ``runner`` from where its group stands until every event is applied."""
        source = self.source(runner)
        try:
            self.drain(runner, source, lambda: self.applied(self.head()))
        finally:
            source.close()

    def values(self, projection: Projection | None = None) -> dict[str, tuple[int, int]]:
        return counter_values(self.rt.read_models, projection or self.projections[0])

    def applied(self, position: int, projections: Sequence[Projection] = ()) -> bool:
        """Every event up to ``position`` is applied by every member (or ``projections``),
        in whichever partition it lives."""
        read_models = self.rt.read_models
        last: dict[int, int] = {}
        for event in self.rt.store.read(0, position):
            partition = self.rt.partition_of(event.aggregate_id)
            last[LOG if partition is None else partition] = event.position
        for projection in projections or self.projections:
            version = read_models.active_version(projection.name, fresh=True)
            tracking = read_models.tracking(projection.name, version)
            if any(read_models.applied_upto(tracking, p) < pos for p, pos in last.items()):
                return False
        return True

    def head(self) -> int:
        return self.rt.store.max_position()


@pytest.fixture(params=["log", "kafka"])
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: Callable[[str], str]
) -> Iterator[Harness]:
    PoisonSwitch.armed = True
    projections = [make_counters_projection(name) for name in NAMES]
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
        yield Harness(runtimes(settings, projections=projections, policies=[]), projections,
                      kafka=False)  # fmt: skip
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
    rt = runtimes(settings, projections=projections, policies=[])
    relay = Relay(rt.store, settings)
    yield Harness(rt, projections, kafka=True, relay=relay)
    relay.close()


def _write(h: Harness, counters: list[UUID], rounds: int) -> dict[str, int]:
    expected: dict[str, int] = {}
    for r in range(rounds):
        for index, counter in enumerate(counters):
            increment(h.rt.bus, CommandContext(), counter, index + r + 1)
            expected[str(counter)] = expected.get(str(counter), 0) + index + r + 1
    return expected


def _all(h: Harness) -> list[dict[str, tuple[int, int]]]:
    return [h.values(p) for p in h.projections]


def test_every_member_applies_every_event_exactly_once(harness: Harness) -> None:
    counters = [uuid4() for _ in range(5)]
    expected = _write(harness, counters, rounds=6)
    harness.publish()
    harness.catch_up(harness.runner())
    want = {k: (v, 6) for k, v in expected.items()}
    assert _all(harness) == [want, want, want]


def test_a_batch_is_one_transaction_for_every_member(harness: Harness) -> None:
    """The members' writes and their tracking commit together: one transaction per batch
    however many projections the group holds."""
    counters = [uuid4() for _ in range(3)]
    _write(harness, counters, rounds=1)
    harness.publish()
    commits: list[int] = []
    engine = harness.rt.read_models.engine
    listener = lambda _conn: commits.append(1)  # noqa: E731
    runner = harness.runner()
    source = harness.source(runner)
    try:
        sa_event.listen(engine, "commit", listener)
        applied = 0
        steps = 0
        while not harness.applied(harness.head()):
            applied += runner.step(source)
            steps += 1
        sa_event.remove(engine, "commit", listener)
    finally:
        source.close()
    assert applied == 3 * len(NAMES)
    batches = len(commits)
    assert 1 <= batches <= 3  # one per partition that had events, never one per member


def test_a_group_crashed_between_batches_resumes_without_double_apply(harness: Harness) -> None:
    counters = [uuid4() for _ in range(4)]
    expected = _write(harness, counters, rounds=10)
    harness.publish()
    first = harness.runner()
    first_source = harness.source(first)
    harness.drain(first, first_source, lambda: harness.applied(10))
    # Crash: the source goes away without a clean shutdown (Kafka offsets may be stale).
    if harness.kafka:
        first_source.consumer.close(autocommit=False)  # type: ignore[attr-defined]
    assert sum(events for _, events in harness.values().values()) < 40
    harness.catch_up(harness.runner())
    want = {k: (v, 10) for k, v in expected.items()}
    assert _all(harness) == [want, want, want]


def test_redelivered_batches_are_applied_once(harness: Harness) -> None:
    counters = [uuid4() for _ in range(3)]
    expected = _write(harness, counters, rounds=4)
    harness.publish()
    harness.catch_up(harness.runner())
    events = harness.rt.store.read(0, 1000)
    by_partition: dict[int, list[RecordedEvent]] = {}
    for event in events:
        partition = harness.rt.partition_of(event.aggregate_id)
        by_partition.setdefault(LOG if partition is None else partition, []).append(event)
    group = harness.group
    for partition, batch in by_partition.items():  # the whole history, a second time
        assert sum(group.apply(partition, batch, 0).applied.values()) == 0
    want = {k: (v, 4) for k, v in expected.items()}
    assert _all(harness) == [want, want, want]


@pytest.mark.parametrize("harness", ["kafka"], indirect=True)
def test_a_batch_sent_again_by_a_restarted_relay_is_applied_once(harness: Harness) -> None:
    """A relay stopped between publishing a batch and saving its position (a database
    outage stops it there) sends the batch again, right behind the first copy; a group that
    was down meanwhile reads both copies in one poll and must count each event once."""
    assert harness.relay is not None
    counters = [uuid4() for _ in range(2)]
    expected = _write(harness, counters, rounds=2)
    harness.relay.publish(harness.rt.store.read(0, 1000))  # ...and stopped before saving
    harness.relay.marks = harness.relay.position.marks()  # restarted: what was saved
    harness.publish()  # the same events again, after the first copies
    harness.catch_up(harness.runner())
    want = {k: (v, 2) for k, v in expected.items()}
    assert _all(harness) == [want, want, want]


def test_a_poison_event_parks_only_what_it_poisons(harness: Harness) -> None:
    """A member that fails on one event parks it (and the later events of that aggregate,
    in order) while the group goes on: the other members apply everything, the failing
    member applies every other aggregate. The parked sequence is retried, shown in the
    status, and drained once an operator skips its head."""
    for index in (0, 2):
        healthy = make_counters_projection(NAMES[index], poisoned=False)
        harness.projections[index] = harness.rt.read_models.projections[healthy.name] = healthy
    poisoned = harness.projections[1]
    sick, well = uuid4(), uuid4()
    increment(harness.rt.bus, CommandContext(), sick, 1)
    bad = increment(harness.rt.bus, CommandContext(), sick, 100, poison=True)
    increment(harness.rt.bus, CommandContext(), sick, 10)
    increment(harness.rt.bus, CommandContext(), well, 7)
    harness.publish()
    runner = harness.runner()
    source = harness.source(runner)
    status = lambda: {s["projection"]: s for s in harness.rt.read_models.status(harness.head())}  # noqa: E731
    try:
        harness.drain(runner, source, lambda: harness.applied(harness.head()))
        # The others are unaffected, and so is the poisoned member's other aggregate.
        assert harness.values(harness.projections[0]) == {str(sick): (111, 3), str(well): (7, 1)}
        assert harness.values(harness.projections[2]) == {str(sick): (111, 3), str(well): (7, 1)}
        assert harness.values(poisoned) == {str(sick): (1, 1), str(well): (7, 1)}
        harness.drain(runner, source, lambda: (status()[poisoned.name]["error"] or {})
                      .get("attempts", 0) >= 3)  # fmt: skip
        report = status()[poisoned.name]
        assert report["parked"] == 2 and report["lag"] == 0  # the head and one behind it
        error = report["error"]
        assert (error["position"], error["status"]) == (bad.last_position, "failing")
        assert "poison event" in error["error"] and error["aggregate_id"] == str(sick)
        assert status()[NAMES[0]]["parked"] == 0
        assert harness.rt.read_models.request_skip(poisoned.name, bad.last_position)
        harness.drain(runner, source, lambda: status()[poisoned.name]["parked"] == 0)
    finally:
        source.close()
    # The skipped event stays unapplied; the one queued behind it is applied, in order.
    assert harness.values(poisoned) == {str(sick): (11, 2), str(well): (7, 1)}
    assert status()[poisoned.name]["error"] is None


def test_an_idle_group_asks_nothing_about_parked_events_until_its_next_look(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between batches an idle group that has found nothing parked sends no query about
    parked events (they were one every second per group: most of an idle server's CPU);
    events parked elsewhere, by another process on the same group, are found and retried
    at its next look."""
    counter = uuid4()
    increment(harness.rt.bus, CommandContext(), counter, 1)
    harness.publish()
    group = harness.group
    harness.catch_up(harness.runner(group))
    group.maintain(harness.rt.fetch)  # a look after Kafka's assignment: nothing parked
    assert not group.parked_possible
    increment(harness.rt.bus, CommandContext(), counter, 5, poison=True)
    harness.publish()
    harness.catch_up(harness.runner())  # another process: it parks the event for every member
    monkeypatch.setattr(groups, "PARKED_LOOK_SECONDS", 600.0)  # no look due while counting
    statements: list[str] = []
    engine = harness.rt.read_models.engine
    listener = lambda _c, _cur, statement, *_rest: statements.append(statement)  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(3):
            group.maintain(harness.rt.fetch)
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "parked" in s]
    PoisonSwitch.armed = False
    monkeypatch.setattr(groups, "PARKED_LOOK_SECONDS", 0.0)
    deadline = time.monotonic() + 30
    while _all(harness) != [{str(counter): (6, 2)}] * 3:
        assert time.monotonic() < deadline, "the group never retried the parked events"
        group.maintain(harness.rt.fetch)
        time.sleep(0.05)
    assert [s["parked"] for s in harness.rt.read_models.status(harness.head())] == [0, 0, 0]


def test_partitions_kafka_hands_over_make_the_group_look_for_parked_events(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may have parked events in the partitions Kafka assigns this one: a
    group that knew of none must look again (its batches then queue a parked aggregate's
    later events behind the parked ones, as ``test_a_poison_event_parks_only_what_it_poisons``
    shows), so an assignment marks parked events as possible."""
    if not harness.kafka:
        pytest.skip("the log is read whole by one runner per group: no partition changes hands")
    monkeypatch.setattr(groups, "PARKED_LOOK_SECONDS", 600.0)
    increment(harness.rt.bus, CommandContext(), uuid4(), 1)
    harness.publish()
    group = harness.group
    runner = harness.runner(group)
    harness.catch_up(runner)
    group.maintain(harness.rt.fetch)  # a look after the first assignment: nothing parked
    assert not group.parked_possible
    source = harness.source(runner)  # a join: Kafka hands this consumer the partitions
    try:
        deadline = time.monotonic() + 30
        while not group.parked_possible:
            assert time.monotonic() < deadline, "no assignment was heard"
            source.poll(0.2)
    finally:
        source.close()


def test_a_parked_event_fixed_by_a_deploy_is_applied_on_retry(harness: Harness) -> None:
    counter = uuid4()
    increment(harness.rt.bus, CommandContext(), counter, 5, poison=True)
    increment(harness.rt.bus, CommandContext(), counter, 1)
    harness.publish()
    runner = harness.runner()
    source = harness.source(runner)
    parked = lambda: harness.rt.read_models.status(harness.head())[0]["parked"]  # noqa: E731
    try:
        harness.drain(runner, source, lambda: harness.applied(harness.head()) and parked() == 2)
        PoisonSwitch.armed = False
        harness.drain(runner, source, lambda: parked() == 0)
    finally:
        source.close()
    assert _all(harness) == [{str(counter): (6, 2)}] * 3


def test_a_rebuild_of_one_member_leaves_and_rejoins_its_running_group(harness: Harness) -> None:
    """While the group runs (its own thread), one member is rebuilt into version 2: queries
    keep answering throughout, the other members are not touched, and after the switch the
    group continues the rebuilt member on version 2 without applying anything twice."""
    counters = [uuid4() for _ in range(5)]
    expected = _write(harness, counters, rounds=8)
    harness.publish()
    stop = threading.Event()
    runner = harness.runner()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    answers: list[dict[str, tuple[int, int]]] = []
    failures: list[BaseException] = []
    try:
        deadline = time.monotonic() + 30
        while not harness.applied(harness.head()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        target = harness.projections[1]

        def query() -> None:
            while not stop.is_set():
                try:
                    answers.append(harness.values(target))
                except BaseException as exc:
                    failures.append(exc)
                time.sleep(0.005)

        reader = threading.Thread(target=query)
        reader.start()
        try:
            result = rebuild(harness.rt, target.name)
            assert (result["version"], result["previous"]) == (2, 1)
            for counter in counters:  # written after the switch: the group must apply them
                increment(harness.rt.bus, CommandContext(), counter, 1000)
                expected[str(counter)] += 1000
            harness.publish()
            deadline = time.monotonic() + 30
            while not harness.applied(harness.head()):
                assert time.monotonic() < deadline, "the group did not rejoin"
                time.sleep(0.05)
        finally:
            stop.set()
            reader.join()
    finally:
        stop.set()
        thread.join(20)
    assert not failures
    assert len(answers) > 10 and all(len(a) == len(counters) for a in answers)
    assert harness.rt.read_models.active_version(target.name, fresh=True) == 2
    want = {k: (v, 9) for k, v in expected.items()}
    assert _all(harness) == [want, want, want]
    assert harness.rt.read_models.active_version(NAMES[0], fresh=True) == 1


def test_a_member_without_handlers_records_how_far_it_has_seen(harness: Harness) -> None:
    """A member with nothing to apply still records, per partition and in the group's
    transaction, how far it has seen; its progress never moves back."""
    counters = [uuid4() for _ in range(6)]
    _write(harness, counters, rounds=3)
    harness.publish()
    bystander = Projection("bystander")
    harness.rt.read_models.projections["bystander"] = bystander
    group = ProjectionGroup("with-bystander", harness.rt.read_models,
                            [*harness.projections, bystander])  # fmt: skip
    runner = harness.runner(group)
    source = harness.source(runner)
    try:
        harness.drain(runner, source, lambda: harness.applied(harness.head(), [bystander]))
    finally:
        source.close()
    read_models = harness.rt.read_models
    before = read_models.tracking("bystander", 1)
    with read_models.engine.begin() as conn:
        stale = {("bystander", 1): min(before.values()) - 1}
        for partition in before:
            read_models.advance_tracking(conn, stale, partition)
    assert read_models.tracking("bystander", 1) == before


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
    runner = GroupRunner(harness.group, harness.factory, harness.rt.fetch, poll_seconds=0.2,
                         batch_window_seconds=0.4)  # fmt: skip
    source = _TimedSource(harness.source(runner))
    try:
        while not runner.step(source):
            assert runner.applied_at == float("-inf")  # nothing applied: no waiting
        first = runner.applied_at
        expected = _write(harness, counters, rounds=3)
        harness.publish()
        harness.drain(runner, source, lambda: harness.applied(harness.head()))
    finally:
        source.close()
    assert first > float("-inf")
    later = [at for at in source.polled_at if at > first]
    assert later and later[0] - first >= 0.4
    assert {k: v[1] for k, v in harness.values().items()} == dict.fromkeys(expected, 4)


def test_a_group_gathers_events_only_as_long_as_every_member_allows(harness: Harness) -> None:
    """A read model no request waits for may take a batch window; a group that also holds
    one a write waits for takes none. The shipped seal gathers; the read models the API
    waits for (``visible_in``) never do."""
    waited, background = harness.projections[0], make_counters_projection("background")
    background.gather_seconds = 0.25
    alone = ProjectionGroup("alone", harness.rt.read_models, [background])
    mixed = ProjectionGroup("mixed", harness.rt.read_models, [waited, background])
    windows = [harness.rt.runner(g, kafka=False).batch_window_seconds for g in (alone, mixed)]
    assert windows == [0.25, 0]
    assert audit.gather_seconds > 0
    assert {p.gather_seconds for p in (profiles, chat, matching)} == {0}


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
