"""Reactions of the achievements context (kinds and guarantees: ``policies.base``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from commands.achievements import A, count_level, count_partner, count_session
from commands.notifications import notify
from domain.achievements import AchievementUnlocked
from domain.group_sessions import GroupSession, GroupSessionEnded
from domain.level_tests import LevelAssessed
from domain.matching import MatchRequestAccepted
from domain.sessions import Session, SessionCompleted
from policies.base import CommandPolicy, PolicyContext
from policies.notifications import wants
from projections.profiles import time_zone_of

tracker = CommandPolicy("achievements.tracker")
"""Completed sessions, matches and level results -> achievement facts; unlocks -> a
notification."""


def _as_of(policy: PolicyContext, cls: type[A], aggregate_id: UUID, version: int) -> A:
    """The aggregate as it was when it recorded the event at ``version`` (who was in a
    session when it ended, not who joined or left since)."""
    history = [e for e in policy.bus.store.history(aggregate_id) if e.version <= version]
    found = cls.replay(aggregate_id, history)
    if found is None:
        raise RuntimeError(f"{cls.__name__} {aggregate_id} has no history")
    return found


def _count_session(policy: PolicyContext, user_id: str, session_id: str, minutes: int,
                   started_at: datetime | None) -> None:  # fmt: skip
    """Counted on the day it started in the user's own zone (their streaks are theirs)."""
    if policy.services.read_models is None:
        raise RuntimeError("the achievement tracker needs the read models")
    if started_at is None:
        raise RuntimeError(f"session {session_id} ended without a start")
    zone = time_zone_of(policy.services.read_models, user_id)
    count_session(policy.bus, policy.ctx, user_id=user_id, session_id=session_id,
                  minutes=minutes, day=started_at.astimezone(zone).date())  # fmt: skip


@tracker.when(SessionCompleted)
def _session(event: SessionCompleted, policy: PolicyContext) -> None:
    session = _as_of(policy, Session, event.aggregate_id, event.version)
    for user in (session.host_id, session.guest_id):
        _count_session(policy, user, event.session_id, event.minutes, session.started_at)


@tracker.when(GroupSessionEnded)
def _group_session(event: GroupSessionEnded, policy: PolicyContext) -> None:
    group = _as_of(policy, GroupSession, event.aggregate_id, event.version)
    for member in group.members:
        _count_session(policy, member, event.session_id, event.minutes, group.started_at)


@tracker.when(MatchRequestAccepted)
def _matched(event: MatchRequestAccepted, policy: PolicyContext) -> None:
    for user, partner in ((event.sender_id, event.receiver_id),
                          (event.receiver_id, event.sender_id)):  # fmt: skip
        count_partner(policy.bus, policy.ctx, user_id=user, partner_id=partner)


@tracker.when(LevelAssessed)
def _assessed(event: LevelAssessed, policy: PolicyContext) -> None:
    count_level(policy.bus, policy.ctx, user_id=event.user_id, test_id=event.test_id,
                language=event.language, level=event.level,
                assessed_at=event.meta.occurred_at)  # fmt: skip


@tracker.when(AchievementUnlocked)
def _unlocked(event: AchievementUnlocked, policy: PolicyContext) -> None:
    read_models = policy.services.read_models
    if read_models is None:
        raise RuntimeError("the achievement tracker needs the read models")
    if wants(read_models, event.user_id, "ACHIEVEMENT"):
        notify(policy.bus, policy.ctx, event, recipient_id=event.user_id, kind="achievement",
               category="ACHIEVEMENT", click_url="/achievements",
               data={"achievement": event.key})  # fmt: skip
