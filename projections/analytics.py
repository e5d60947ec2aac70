"""Learning-analytics read model: per learner, the sessions they completed, the messages
they sent (counted per quarter hour), their level-test results and their matching history.

Times are kept in UTC and turned into the learner's days when read, in their current zone
(quarter hours convert exactly into any zone's days), so moving house never needs a
rebuild. Each table is this projection's own and built only from events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.analytics import Activity, LevelResult, SessionFact
from domain.chat import ChatMessagePosted
from domain.events import DomainEvent
from domain.group_sessions import (
    GroupParticipantRemoved,
    GroupSessionCreated,
    GroupSessionEnded,
    GroupSessionJoined,
    GroupSessionLeft,
    GroupSessionStarted,
)
from domain.identity import AccountDeleted
from domain.level_tests import LevelAssessed
from domain.matching import (
    MatchDissolved,
    MatchRequestAccepted,
    MatchRequestCancelled,
    MatchRequested,
    MatchRequestExpired,
    MatchRequestRejected,
)
from domain.sessions import SessionCompleted, SessionProposed, SessionStarted
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import rows_of, utc
from eventflow.readmodels import ReadModels
from projections.profiles import time_zone_of

analytics = Projection("analytics")


class MatchEventRow(TypedDict):
    """A ``match_events`` row: a match made or dissolved, from one side of the pair."""

    event_id: str
    user_id: str
    kind: str
    initiated: bool
    partner_id: str
    at: datetime


@analytics.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sessions = sa.Table(
        name("learning_sessions"),
        metadata,
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("hosted", sa.Boolean, nullable=False),
        sa.Column("partner_id", sa.String(36)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("minutes", sa.Integer),
    )
    sa.Index(name("ix_learning_sessions_user"), sessions.c.user_id, sessions.c.started_at)
    sa.Table(
        name("message_slots"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("slot", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("messages", sa.Integer, nullable=False),
    )
    levels = sa.Table(
        name("level_results"),
        metadata,
        sa.Column("test_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("level", sa.String(2), nullable=False),
        sa.Column("overall", sa.Integer, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("strengths", sa.JSON, nullable=False),
        sa.Column("improvements", sa.JSON, nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index(name("ix_level_results_user"), levels.c.user_id, levels.c.assessed_at)
    matches = sa.Table(
        name("match_events"),
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("initiated", sa.Boolean, nullable=False),
        sa.Column("partner_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index(name("ix_match_events_user"), matches.c.user_id, matches.c.at)


# -- sessions ---------------------------------------------------------------------------
def _seat(tx: ProjectionTx, session_id: str, user_id: str, kind: str, *, hosted: bool,
          partner_id: str | None) -> None:  # fmt: skip
    tx.insert("learning_sessions", {"session_id": session_id, "user_id": user_id, "kind": kind,
                                    "hosted": hosted, "partner_id": partner_id,
                                    "started_at": None, "minutes": None})  # fmt: skip


@analytics.on(SessionProposed)
def _proposed(e: SessionProposed, tx: ProjectionTx) -> None:
    _seat(tx, e.session_id, e.host_id, e.kind, hosted=True, partner_id=e.guest_id)
    _seat(tx, e.session_id, e.guest_id, e.kind, hosted=False, partner_id=e.host_id)


@analytics.on(GroupSessionCreated)
def _group_created(e: GroupSessionCreated, tx: ProjectionTx) -> None:
    _seat(tx, e.session_id, e.host_id, "GROUP", hosted=True, partner_id=None)


@analytics.on(GroupSessionJoined)
def _group_joined(e: GroupSessionJoined, tx: ProjectionTx) -> None:
    _seat(tx, e.session_id, e.user_id, "GROUP", hosted=False, partner_id=None)


@analytics.on(GroupSessionLeft, GroupParticipantRemoved)
def _group_left(e: GroupSessionLeft | GroupParticipantRemoved, tx: ProjectionTx) -> None:
    tx.delete("learning_sessions", {"session_id": e.session_id, "user_id": e.user_id})


@analytics.on(SessionStarted, GroupSessionStarted)
def _started(e: SessionStarted | GroupSessionStarted, tx: ProjectionTx) -> None:
    tx.update("learning_sessions", {"session_id": e.session_id},
              {"started_at": e.meta.occurred_at})  # fmt: skip


@analytics.on(SessionCompleted, GroupSessionEnded)
def _completed(e: SessionCompleted | GroupSessionEnded, tx: ProjectionTx) -> None:
    tx.update("learning_sessions", {"session_id": e.session_id}, {"minutes": e.minutes})


# -- messages, level tests, matching ----------------------------------------------------
def quarter_hour(moment: datetime) -> datetime:
    """The start of the quarter hour (UTC) a moment falls in."""
    at = moment.astimezone(UTC)
    return at.replace(minute=at.minute // 15 * 15, second=0, microsecond=0)


@analytics.on(ChatMessagePosted)
def _message(e: ChatMessagePosted, tx: ProjectionTx) -> None:
    slot = {"user_id": e.sender_id, "slot": quarter_hour(e.meta.occurred_at)}
    tx.add("message_slots", slot, "messages", 1)  # buffered and summed per batch


@analytics.on(LevelAssessed)
def _assessed(e: LevelAssessed, tx: ProjectionTx) -> None:
    tx.insert("level_results", {
        "test_id": e.test_id, "user_id": e.user_id, "language": e.language, "level": e.level,
        "overall": e.overall, "scores": dict(e.scores),
        "strengths": [s.split(":")[0] for s in e.strengths],
        "improvements": [s.split(":")[0] for s in e.improvements],
        "assessed_at": e.meta.occurred_at})  # fmt: skip


MATCH_KINDS: dict[type[DomainEvent], str] = {
    MatchRequested: "requested",
    MatchRequestAccepted: "accepted",
    MatchRequestRejected: "rejected",
    MatchRequestCancelled: "cancelled",
    MatchRequestExpired: "expired",
}


@analytics.on(*MATCH_KINDS)
def _match_request(
    e: MatchRequested | MatchRequestAccepted | MatchRequestRejected | MatchRequestCancelled
    | MatchRequestExpired,
    tx: ProjectionTx,
) -> None:  # fmt: skip
    """Both people see it; ``initiated`` marks the one who sent the request."""
    for user, partner in ((e.sender_id, e.receiver_id), (e.receiver_id, e.sender_id)):
        _match_row(tx, e, MATCH_KINDS[type(e)], user, partner=partner,
                   initiated=user == e.sender_id)  # fmt: skip


@analytics.on(MatchDissolved)
def _dissolved(e: MatchDissolved, tx: ProjectionTx) -> None:
    """``initiated`` marks the one who ended the match."""
    first, second = e.user_ids
    for user, partner in ((first, second), (second, first)):
        _match_row(tx, e, "dissolved", user, partner=partner, initiated=user == e.by_user_id)


def _match_row(tx: ProjectionTx, e: DomainEvent, kind: str, user: str, *, partner: str,
               initiated: bool) -> None:  # fmt: skip
    tx.insert("match_events", {"event_id": str(e.meta.event_id), "user_id": user, "kind": kind,
                               "initiated": initiated, "partner_id": partner,
                               "at": e.meta.occurred_at})  # fmt: skip


@analytics.on(AccountDeleted)
def _account_deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    for table in ("learning_sessions", "message_slots", "level_results", "match_events"):
        tx.delete(table, {"user_id": str(e.aggregate_id)})


# -- queries ----------------------------------------------------------------------------
def _select(read_models: ReadModels, query: sa.Select[Any]) -> list[dict[str, Any]]:
    with read_models.reads() as conn:
        return [{k: utc(v) for k, v in r._mapping.items()} for r in conn.execute(query)]


def activity_of(read_models: ReadModels, user_id: str) -> Activity:
    """Everything measured about a learner, in their current time zone."""
    sessions = read_models.table(analytics, "learning_sessions")
    slots = read_models.table(analytics, "message_slots")
    levels = read_models.table(analytics, "level_results")
    done = _select(read_models, sa.select(sessions).where(
        sessions.c.user_id == user_id, sessions.c.minutes.is_not(None),
        sessions.c.started_at.is_not(None)).order_by(sessions.c.started_at))  # fmt: skip
    sent = _select(read_models, sa.select(slots).where(slots.c.user_id == user_id))
    results = _select(read_models, sa.select(levels).where(levels.c.user_id == user_id)
                      .order_by(levels.c.assessed_at))  # fmt: skip
    return Activity(
        zone=time_zone_of(read_models, user_id),
        sessions=[SessionFact(r["started_at"], r["minutes"], r["kind"], r["hosted"],
                              r["partner_id"]) for r in done],
        message_slots=[(r["slot"], r["messages"]) for r in sent],
        levels=[LevelResult(r["test_id"], r["assessed_at"], r["language"], r["level"],
                            r["overall"], r["scores"], tuple(r["strengths"]),
                            tuple(r["improvements"])) for r in results],
    )  # fmt: skip


def match_events_of(read_models: ReadModels, user_id: str, limit: int = 200) -> list[MatchEventRow]:
    """The learner's matching history, newest first."""
    table = read_models.table(analytics, "match_events")
    query = sa.select(table).where(table.c.user_id == user_id)
    return rows_of(read_models, query.order_by(table.c.at.desc()).limit(limit), MatchEventRow,
                   zoned=True)  # fmt: skip
