"""Scheduled policies: commands issued because time passed, not because an event arrived.

Each job finds due work in a read model and issues an idempotent command per item (the key
names the item and the job), so two schedulers running at once, or a job re-run after a
crash, never act twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa

from commands.base import CommandBus, CommandContext
from commands.matching import ExpireRequest, expire_request
from commands.sessions import MissSession, miss_session, remind_session
from domain.errors import DomainError
from domain.sessions import NO_SHOW_AFTER
from eventflow.readmodels import ReadModels
from projections.matching import matching
from projections.sessions import due_sessions

log = logging.getLogger(__name__)
Job = Callable[[CommandBus, ReadModels, datetime], int]


def expire_match_requests(
    bus: CommandBus, read_models: ReadModels, now: datetime, batch: int = 500
) -> int:
    """Pending match requests older than their 7 days become ``MatchRequestExpired``."""
    table = read_models.table(matching, "match_requests")
    with read_models.reads() as conn:
        due = conn.execute(
            sa.select(table.c.request_id, table.c.pair_id)
            .where(table.c.status == "pending", table.c.expires_at <= now)
            .limit(batch)
        ).all()
    for request_id, pair in due:
        ctx = CommandContext(
            actor_id="schedule.match_request_expiry", idempotency_key=f"expire:{request_id}"
        )
        expire_request(bus, ctx, ExpireRequest(pair_id=UUID(pair), request_id=request_id))
    if due:
        log.info("expired %d match requests", len(due))
    return len(due)


REMIND_BEFORE = timedelta(minutes=30)


def remind_sessions(bus: CommandBus, read_models: ReadModels, now: datetime) -> int:
    """Sessions starting within ``REMIND_BEFORE`` get their reminder (the notifier tells
    both partners); a moved session is reminded of its new start."""
    due = [r for r in due_sessions(read_models, now + REMIND_BEFORE, unreminded=True)
           if r["starts_at"] > now]  # fmt: skip
    for row in due:
        key = f"remind:{row['session_id']}:{row['starts_at'].isoformat()}"
        remind_session(bus, CommandContext(actor_id="schedule.session_reminders",
                                           idempotency_key=key), row["session_id"])  # fmt: skip
    return len(due)


def close_missed_sessions(bus: CommandBus, read_models: ReadModels, now: datetime) -> int:
    """Scheduled sessions nobody started by ``NO_SHOW_AFTER`` past their start."""
    due = due_sessions(read_models, now - NO_SHOW_AFTER)
    for row in due:
        ctx = CommandContext(actor_id="schedule.session_no_shows",
                             idempotency_key=f"missed:{row['session_id']}")  # fmt: skip
        try:
            miss_session(bus, ctx, MissSession(session_id=row["session_id"], user_id="schedule"))
        except DomainError as exc:  # started or cancelled since the read model was read
            log.info("session %s is not missed: %s", row["session_id"], exc.code)
    return len(due)


JOBS: list[Job] = [expire_match_requests, remind_sessions, close_missed_sessions]


def run_due(bus: CommandBus, read_models: ReadModels, now: datetime | None = None) -> int:
    """Run every job as of ``now``; the commands see that same moment as their clock, so a
    job and the rules it triggers agree on what is due."""
    moment = now or datetime.now(UTC)
    timed = CommandBus(bus.store, clock=lambda: moment)
    return sum(job(timed, read_models, moment) for job in JOBS)
