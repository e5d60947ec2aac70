"""Policy groups: each kind of reaction with its own guarantee.

Command policies react exactly once without a marker event per reaction (the decisions
and the group's tracking commit together in the event store); a failing reaction parks
only itself; job dispatchers send at least once; live publishers start at the head."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.runtime import Runtime
from commands.base import CommandContext
from domain.system import CommandHandled
from eventflow.schema import LOG
from infra.settings import Settings
from policies.base import CommandPolicy, JobDispatcher, LivePublisher, PolicyContext
from policies.groups import CommandGroup
from tests.support import Counter, Incremented, increment

MIRROR = UUID("00000000-0000-0000-0000-0000000000aa")
ECHO = UUID("00000000-0000-0000-0000-0000000000bb")


class Broken:
    """Whether the ``echo`` policy fails (a bug, until a fix is deployed)."""

    on = False


def mirror_policy() -> CommandPolicy:
    """Every increment of a counter is mirrored onto one shared counter."""
    policy = CommandPolicy("mirror")

    @policy.when(Incremented)
    def _mirror(event: Incremented, p: PolicyContext) -> None:
        if event.aggregate_id not in (MIRROR, ECHO):
            increment(p.bus, p.ctx, MIRROR, event.by)

    return policy


def echo_policy() -> CommandPolicy:
    """Every increment is echoed onto another shared counter, unless broken."""
    policy = CommandPolicy("echo")

    @policy.when(Incremented)
    def _echo(event: Incremented, p: PolicyContext) -> None:
        if event.aggregate_id in (MIRROR, ECHO):
            return
        if Broken.on:
            raise RuntimeError("echo is broken")
        increment(p.bus, p.ctx, ECHO, 1)

    return policy


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest) -> Settings:
    Broken.on = False
    return request.getfixturevalue(
        "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    )  # type: ignore[no-any-return]


def _group(rt: Runtime) -> CommandGroup:
    group = rt.policy_groups()[0]
    assert isinstance(group, CommandGroup)
    return group


def _run_until_idle(rt: Runtime, group: CommandGroup) -> None:
    runner = rt.runner(group, kafka=False)
    source = rt.log_source(group, group.start())
    try:  # until it has seen everything, its own decisions included
        while rt.store.tracked(group.name) < rt.store.max_position():
            runner.step(source)
    finally:
        source.close()


def _value(rt: Runtime, counter: UUID) -> tuple[int, int]:
    found = rt.store.load(Counter, counter)
    return (found.value, found.version) if found is not None else (0, 0)


def test_a_command_policy_reacts_once_per_event_and_appends_only_its_own_events(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(settings, projections=[], policies=[mirror_policy()])
    group = _group(rt)
    for by in (1, 2, 3):
        increment(rt.bus, CommandContext(), uuid4(), by)
    _run_until_idle(rt, group)
    assert _value(rt, MIRROR) == (6, 3)
    topics = [r.topic for r in rt.store.read_all()]
    assert topics.count(Incremented.topic) == 6 and CommandHandled.topic not in topics
    # The whole history delivered again (a redelivery, a restarted consumer): the group's
    # tracking is past it, so nothing is decided or appended a second time.
    head = rt.store.max_position()
    history = list(rt.store.read_all())
    group.apply(LOG, history, 0)
    _group(rt).apply(LOG, history, 0)  # a new process
    assert rt.store.max_position() == head and _value(rt, MIRROR) == (6, 3)


def test_decisions_and_tracking_commit_together_or_not_at_all(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    """A run that dies before its commit leaves neither events nor tracking, so the next
    run decides everything again, once."""
    rt = runtimes(settings, projections=[], policies=[mirror_policy()])
    for by in (4, 5):
        increment(rt.bus, CommandContext(), uuid4(), by)
    group = _group(rt)
    batch = rt.store.read(0, 100)
    append = rt.store.append

    def crash(*_: Any, **__: Any) -> list[int]:
        raise KeyboardInterrupt("the process died")

    rt.store.append = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        group.apply(LOG, batch, 0)
    rt.store.append = append  # type: ignore[method-assign]
    assert rt.store.tracked(group.name) == 0 and _value(rt, MIRROR) == (0, 0)
    restarted = _group(rt)
    restarted.start()
    restarted.apply(LOG, batch, 0)
    assert _value(rt, MIRROR) == (9, 2) and rt.store.tracked(group.name) == batch[-1].position


def test_reactions_carry_the_causing_event_as_causation(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(settings, projections=[], policies=[mirror_policy()])
    correlation = uuid4()
    cause = increment(
        rt.bus, CommandContext(actor_id="user-1", correlation_id=correlation), uuid4(), 5
    )
    _run_until_idle(rt, _group(rt))
    source_event = rt.store.read(0, 10)[0].decode()
    mirrored = rt.store.history(MIRROR)[0]
    assert mirrored.meta.causation_id == source_event.meta.event_id
    assert mirrored.meta.correlation_id == correlation
    assert mirrored.meta.actor_id == "policy.mirror"
    assert cause.positions[0] == source_event.meta.position


def test_a_failing_reaction_parks_only_itself(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    """In a group of two policies one breaks: the other's decisions are kept for every
    event, the broken one's are parked per aggregate and applied once it is fixed."""
    rt = runtimes(settings, projections=[], policies=[mirror_policy(), echo_policy()])
    Broken.on = True
    counters = [uuid4(), uuid4()]
    for counter in counters:
        increment(rt.bus, CommandContext(), counter, 2)
        increment(rt.bus, CommandContext(), counter, 3)
    group = _group(rt)
    _run_until_idle(rt, group)
    assert _value(rt, MIRROR) == (10, 4) and _value(rt, ECHO) == (0, 0)
    with rt.read_models.engine.connect() as conn:
        parked = rt.read_models.open_sequences(conn, [("policy.echo", 0)])
    assert parked == {("policy.echo", str(c)) for c in counters}
    Broken.on = False
    deadline = time.monotonic() + 20
    while _value(rt, ECHO)[0] < 4:
        assert time.monotonic() < deadline, "the parked reactions were never retried"
        group.retry_parked(rt.fetch)
        time.sleep(0.1)
    assert _value(rt, ECHO) == (4, 4) and _value(rt, MIRROR) == (10, 4)
    group.retry_parked(rt.fetch)  # nothing left to settle: nothing happens twice
    assert _value(rt, ECHO) == (4, 4)


def test_a_job_dispatcher_sends_then_records_and_a_live_publisher_starts_at_the_head(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    sent: list[tuple[str, int]] = []
    published: list[int] = []
    dispatcher = JobDispatcher("sender")
    live = LivePublisher("shouter")

    @dispatcher.when(Incremented)
    def _send(event: Incremented, p: PolicyContext) -> None:
        sent.append((str(event.aggregate_id), event.by))

    @live.when(Incremented)
    def _shout(event: Incremented, p: PolicyContext) -> None:
        published.append(event.by)

    rt = runtimes(sqlite_settings, projections=[], policies=[dispatcher, live])
    increment(rt.bus, CommandContext(), uuid4(), 1)  # before the live group started
    jobs, shouts = rt.policy_groups()
    start = shouts.start()
    assert start == {LOG: rt.store.max_position()}
    increment(rt.bus, CommandContext(), uuid4(), 2)
    history = rt.store.read(0, 100)
    jobs.start()
    jobs.apply(LOG, history, 0)
    shouts.apply(LOG, [e for e in history if e.position > start[LOG]], 0)
    assert [by for _, by in sent] == [1, 2] and published == [2]
    assert rt.store.tracked(jobs.name) == 0  # progress without decisions is held back...
    jobs.maintain(lambda position: None, closing=True)
    assert rt.store.tracked(jobs.name) == history[-1].position  # ...until it is recorded
    assert rt.store.tracked(shouts.name) == 0  # best effort: nothing recorded


def test_background_policy_groups_follow_new_events(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(sqlite_settings, projections=[], policies=[mirror_policy()])
    rt.start_policies(kafka=False)
    for _ in range(5):
        increment(rt.bus, CommandContext(), uuid4(), 1)
    deadline = time.monotonic() + 10
    while _value(rt, MIRROR)[0] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert _value(rt, MIRROR) == (5, 5)
    (group,) = rt.policy_groups()
    rt.stop_event.set()  # a clean stop records the progress held back (the mirrored
    for thread in rt.threads:  # events decided nothing), so a restart reads nothing twice
        thread.join(timeout=15)
    assert rt.store.tracked(group.name) == rt.store.max_position()
