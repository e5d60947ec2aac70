"""``languagemate demo seed``: a living platform built through the real commands.

Learners across language pairs and levels sign up (dev sign-in), onboard, take the level
test, match, chat and meet in 1:1 and group sessions over ``days`` of simulated time that
ends yesterday. Everything goes through ``commands/``, never into a read model: the
projections and the policies (direct rooms for matches, assessed levels, achievements,
notifications) follow from the events exactly as they do on a live server, so the
dashboard, analytics and the SPA show what a real history would give them.

Simulated time is the command bus's clock: each day's activity happens at its hour of that
day (events carry it as ``occurred_at``), and the command policies catch up at the end of
each step under the same clock. The level test is answered in text: the seeder records each
answer and its transcript itself (the part a speech model plays for audio) and the real
CEFR scorer rates the text, so the levels are measured, not declared.

``seed`` choices come from ``random.Random(seed)`` alone, so one seed gives the same
learners, answers, levels and matches on every fresh store (ids of rooms and sessions are
random, as on a live server). It seeds only an empty store: on anything else it refuses
(``NotEmpty``) and appends nothing, since a second run would meet its own learners.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.demo import joining, meeting
from app.demo.world import SimulatedClock, World
from app.runtime import Runtime
from policies.groups import CommandGroup


class NotEmpty(Exception):
    """The store holds events already: the demo builds a platform from nothing."""


def day(world: World, index: int, midnight: datetime, last: bool) -> None:
    """One simulated day in the order of its hours: 1:1 sessions booked for the evening and
    the day's group session created (08:00), newcomers onboard and take the level test
    (09:00) and others join the group session (11:30), match requests (12:00) and answers
    (15:00), chat (17:00), the 1:1 sessions (19:00) and the group session (20:00); on the
    last day, sessions booked for after it (upcoming in the SPA)."""

    def phase(start: float, end: float, actions: int = 1) -> None:
        world.clock.phase(midnight + timedelta(hours=start), midnight + timedelta(hours=end),
                         actions)  # fmt: skip

    active = [learner for learner in world.learners if learner.onboard_day < index]
    newcomers = [learner for learner in world.learners if learner.onboard_day == index]
    phase(8, 8.9, 2 * len(world.matched) + 1)
    dates = meeting.schedule_sessions(world, active, midnight + timedelta(hours=19))
    group = meeting.create_group_session(world, active, index, midnight + timedelta(hours=20))
    phase(9, 11.4, 16 * len(newcomers))
    for learner in newcomers:
        joining.onboard(world, learner)
        joining.take_level_test(world, learner)
    phase(11.5, 11.9, 6)
    meeting.join_group_session(world, group, active)
    phase(12, 14.9, len(world.learners))
    requests = meeting.send_requests(world, [x for x in world.learners if x.onboard_day <= index])
    phase(15, 16.9, len(requests))
    meeting.answer_requests(world, requests)
    settle(world)  # the direct rooms of the new matches open
    phase(17, 18.75, 4 * len(world.matched) + 4 * len(world.clubs) + 1)
    meeting.open_clubs(world, active)
    meeting.chat(world)
    phase(19, 19.5)
    meeting.hold_sessions(world, dates, minutes=30)
    phase(20, 21)
    meeting.hold_group_session(world, group, minutes=60)
    if last:
        phase(21.5, 22.5, 2 * len(world.matched))
        meeting.schedule_sessions(world, active, midnight + timedelta(days=2, hours=19))
    phase(23, 24)
    settle(world)


def settle(world: World) -> None:
    """Bring the read models and the command policies up to the log's head, until the
    policies' own commands cause nothing more (what ``serve`` does in the background)."""
    groups = [g for g in world.rt.policy_groups() if isinstance(g, CommandGroup)]
    while True:
        head = world.rt.store.max_position()
        world.rt.catch_up()
        for group in groups:
            react(world, group, head)
        if world.rt.store.max_position() == head:
            return


def react(world: World, group: CommandGroup, head: int) -> None:
    """Run a policy group's reactions up to ``head``, in this thread."""
    source = world.rt.log_source(group, group.start())
    try:
        world.rt.runner(group, kafka=False).catch_up(source, head)
    finally:
        source.close()


def seed(rt: Runtime, *, users: int, days: int, seed: int,
         on_day: Callable[[int], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Seed an empty store; the counts of what was done, and the address of a learner to
    sign in as (dev login). ``on_day`` hears each simulated day finish (progress)."""
    if (head := rt.store.max_position()) > 0:
        raise NotEmpty(f"the store holds {head} events already")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    clock = SimulatedClock(first + timedelta(hours=7))
    rt.bus.clock = clock
    world = World(rt, random.Random(seed), clock)
    world.learners = joining.plan(world.rng, users, days)
    for index in range(days):
        day(world, index, first + timedelta(days=index), last=index == days - 1)
        if on_day is not None:
            on_day(index)
    counted = ("onboarded", "level_tests", "matches", "messages", "sessions_booked", "sessions",
               "group_sessions")  # fmt: skip
    return {"users": users, "days": days, "seed": seed, **{k: world.counts[k] for k in counted},
            "events": rt.store.max_position(),
            "sign_in_as": world.learners[0].email}  # fmt: skip
