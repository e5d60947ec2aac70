"""The state of a demo being seeded: its simulated clock, its learners, who met whom."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.runtime import Runtime
from commands.base import CommandContext


class SimulatedClock:
    """The bus's clock during seeding; moved forward by the seeder, never backwards.

    A day is a sequence of phases, each in its own window of hours; the actions of a phase
    are spread evenly over its window (at most ``MAX_STEP`` apart), however many learners
    there are, so no phase runs into the next: a session booked for 19:00 is started at
    19:00, not after the chat of a large platform ran late."""

    MAX_STEP = timedelta(minutes=3)

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.step = self.MAX_STEP

    def __call__(self) -> datetime:
        return self.now

    def phase(self, start: datetime, end: datetime, actions: int) -> None:
        """Move to ``start`` (if not past it) and pace ``actions`` ticks to end by ``end``."""
        self.now = max(self.now, start)
        self.step = min(max(end - self.now, timedelta()) / max(actions, 1), self.MAX_STEP)

    def tick(self) -> None:
        self.now += self.step

    def later(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)


@dataclass
class Learner:
    name: str
    email: str
    native: int
    target: int
    level_id: int
    """Self-assessed current level in the target language (100 = A1 ... 104 = C1)."""
    onboard_day: int
    user_id: str = ""
    """Known once signed up."""

    @property
    def ctx(self) -> CommandContext:
        return CommandContext(actor_id=self.user_id)


@dataclass
class World:
    rt: Runtime
    rng: random.Random
    clock: SimulatedClock
    learners: list[Learner] = field(default_factory=list)
    pairs: set[frozenset[str]] = field(default_factory=set)
    """Pairs that have met through a request (matched, pending or rejected)."""
    matched: list[tuple[Learner, Learner]] = field(default_factory=list)
    clubs: dict[int, tuple[int, list[Learner]]] = field(default_factory=dict)
    """Target language -> the group chat room of its learners and its members."""
    counts: Counter[str] = field(default_factory=Counter)

    def partners_of(self, learner: Learner) -> int:
        return sum(1 for a, b in self.matched if learner in (a, b))
