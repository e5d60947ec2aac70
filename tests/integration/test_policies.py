"""Policies: event -> command with tracking; the causing event id makes re-delivery harmless."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from commands.base import CommandContext
from infra.policies import Policy, PolicyContext
from infra.runtime import Runtime
from infra.settings import Settings
from projections.engine import LOG, tracking_table
from tests.support import Counter, Incremented, increment

MIRROR = UUID("00000000-0000-0000-0000-0000000000aa")


def mirror_policy() -> Policy:
    """Every increment of a counter is mirrored onto one shared counter."""
    policy = Policy("mirror")

    @policy.when(Incremented)
    def _mirror(event: Incremented, p: PolicyContext) -> None:
        if event.aggregate_id != MIRROR:
            increment(p.bus, p.ctx, MIRROR, event.by)

    return policy


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest) -> Settings:
    return request.getfixturevalue(
        "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    )  # type: ignore[no-any-return]


def _run_until_idle(rt: Runtime, policy: Policy) -> None:
    runner = rt.projection_runner(policy, kafka=False)
    source = rt.log_source(policy, 1, rt.read_models.tracking(policy.name, 1))
    while runner.step(source, 1):
        pass
    while rt.read_models.tracking(policy.name, 1).get(LOG, 0) < rt.store.max_position():
        runner.step(source, 1)


def test_policy_issues_one_command_per_event_even_when_events_are_redelivered(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(settings, projections=[], policies=[mirror_policy()])
    policy = rt.policies[0]
    for by in (1, 2, 3):
        increment(rt.bus, CommandContext(), uuid4(), by)
    _run_until_idle(rt, policy)
    mirror = rt.store.load(Counter, MIRROR)
    assert mirror is not None and (mirror.value, mirror.version) == (6, 3)
    # Lose the tracking (a crash after the commands, before the tracking commit): every
    # event is delivered again, and the idempotency keys make the second pass a no-op.
    with rt.read_models.engine.begin() as conn:
        conn.execute(sa.update(tracking_table).values(position=0))
    head = rt.store.max_position()
    _run_until_idle(rt, policy)
    mirror = rt.store.load(Counter, MIRROR)
    assert mirror is not None and (mirror.value, mirror.version) == (6, 3)
    assert rt.store.max_position() == head


def test_policy_commands_carry_the_causing_event_as_causation(
    settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(settings, projections=[], policies=[mirror_policy()])
    policy = rt.policies[0]
    correlation = uuid4()
    cause = increment(
        rt.bus, CommandContext(actor_id="user-1", correlation_id=correlation), uuid4(), 5
    )
    _run_until_idle(rt, policy)
    source_event = rt.store.read(0, 10)[0].decode()
    mirrored = rt.store.history(MIRROR)[0]
    assert mirrored.meta.causation_id == source_event.meta.event_id
    assert mirrored.meta.correlation_id == correlation
    assert mirrored.meta.actor_id == "policy.mirror"
    assert cause.positions[0] == source_event.meta.position


def test_background_policy_thread_follows_new_events(
    sqlite_settings: Settings, runtimes: Callable[..., Runtime]
) -> None:
    rt = runtimes(sqlite_settings, projections=[], policies=[mirror_policy()])
    rt.start_policies(kafka=False)
    for _ in range(5):
        increment(rt.bus, CommandContext(), uuid4(), 1)
    deadline = time.monotonic() + 10
    while (mirror := rt.store.load(Counter, MIRROR)) is None or mirror.value < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert mirror.value == 5
