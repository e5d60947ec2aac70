"""Achievement commands, and the policy that derives achievements from what users do.

The tracker turns completed sessions, accepted matches and level-test results into facts on
each participant's ``Achievements`` aggregate, and tells the user (through the notification
machinery, if they keep achievement notifications on) when one is unlocked. Clients can
only claim the reward of an achievement the server has unlocked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.achievements import Achievements, achievements_id
from domain.aggregate import Aggregate, Cause

A = TypeVar("A", bound=Aggregate)
Change = Callable[[Achievements, Cause], None]


def _change(
    bus: CommandBus, ctx: CommandContext, name: str, user_id: str, change: Change
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        change(uow.load(Achievements, achievements_id(user_id)), uow.cause)
        return {"user_id": user_id}

    # One source event counts for several users: each user is a command of its own.
    if ctx.idempotency_key is not None:
        ctx = replace(ctx, idempotency_key=f"{ctx.idempotency_key}|{user_id}")
    return bus.run(f"achievements.{name}", ctx, decide)


def count_session(bus: CommandBus, ctx: CommandContext, *, user_id: str, session_id: str,
                  minutes: int, day: date) -> Outcome:  # fmt: skip
    return _change(bus, ctx, "CountSession", user_id, lambda a, cause: a.count_session(
        cause, user_id=user_id, session_id=session_id, minutes=minutes, day=day))  # fmt: skip


def count_partner(bus: CommandBus, ctx: CommandContext, *, user_id: str,
                  partner_id: str) -> Outcome:  # fmt: skip
    return _change(bus, ctx, "CountPartner", user_id, lambda a, cause: a.count_partner(
        cause, user_id=user_id, partner_id=partner_id))  # fmt: skip


def count_level(bus: CommandBus, ctx: CommandContext, *, user_id: str, test_id: int,
                language: str, level: str, assessed_at: datetime) -> Outcome:  # fmt: skip
    return _change(bus, ctx, "CountLevel", user_id, lambda a, cause: a.count_level(
        cause, user_id=user_id, test_id=test_id, language=language, level=level,
        assessed_at=assessed_at))  # fmt: skip


def claim_reward(bus: CommandBus, ctx: CommandContext, *, user_id: str, key: str) -> Outcome:
    return _change(bus, ctx, "ClaimReward", user_id,
                   lambda a, cause: a.claim(cause, user_id=user_id, key=key))  # fmt: skip
