"""Matching read models: requests, matches, blocks, and the candidate index for search.

The candidate index is kept from account and profile events so partner search filters on
indexed columns instead of scanning every profile. ``candidates`` has one row per user;
``candidate_targets`` one row per user and language they learn, carrying a copy of the
user's filter columns (native language, gender, birth year, location, active, updated_at).
The copy is what makes a language filter fast: "learns Korean, born 1990-2000, newest
first" is one range scan of ``(language_id, updated_at)`` instead of a join of every
candidate with every Korean learner. Handlers keep the copies in step with ``candidates``.

A search excludes the caller's blocks and matches, so the candidate index and the pair
tables are one projection (one version, rebuilt and switched together; split in two, a
rebuild of one would serve searches that show blocked users). The search query itself is
``projections.partner_search``; the ranking of what it finds is ``domain.ranking``'s.
"""

from __future__ import annotations

import base64
from array import array
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from domain.events import ERASED
from domain.identity import AccountDeactivated, AccountDeleted, AccountRegistered
from domain.matching import (
    MatchDissolved,
    MatchRequestAccepted,
    MatchRequestCancelled,
    MatchRequested,
    MatchRequestExpired,
    MatchRequestRejected,
    PartnerFeedbackGiven,
    RequestStatus,
    UserBlocked,
    UserUnblocked,
)
from domain.profile_embeddings import ProfileEmbedded, unpack_vector
from domain.profiles import (
    BirthYearSet,
    GenderSet,
    NativeLanguageSet,
    OnboardingCompleted,
    ResidenceSet,
    TargetLanguagesSet,
)
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import Window, first_row, page_of
from eventflow.readmodels import ReadModels

matching = Projection("matching")


class MatchRequestRow(TypedDict):
    """A ``match_requests`` row; ``status`` is pending, accepted, rejected, cancelled or
    expired."""

    request_id: str
    pair_id: str
    sender_id: str
    receiver_id: str
    message: str
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
    position: int


class MatchRow(TypedDict):
    """A ``matches`` row: a pair of partners, ``active`` until dissolved."""

    match_id: str
    pair_id: str
    user_a: str
    user_b: str
    matched_at: datetime
    active: bool
    dissolved_at: datetime | None
    position: int


@matching.tables
def _tables(metadata: sa.MetaData, name: Callable[[str], str]) -> None:
    sa.Table(
        name("match_requests"),
        metadata,
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("pair_id", sa.String(36), nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=False, index=True),
        sa.Column("receiver_id", sa.String(36), nullable=False, index=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("responded_at", sa.DateTime(timezone=True)),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    sa.Table(
        name("matches"),
        metadata,
        sa.Column("match_id", sa.String(36), primary_key=True),
        sa.Column("pair_id", sa.String(36), nullable=False),
        sa.Column("user_a", sa.String(36), nullable=False, index=True),
        sa.Column("user_b", sa.String(36), nullable=False, index=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("dissolved_at", sa.DateTime(timezone=True)),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    sa.Table(
        name("blocks"),
        metadata,
        sa.Column("blocker_id", sa.String(36), primary_key=True),
        sa.Column("blocked_id", sa.String(36), primary_key=True, index=True),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        name("feedback"),
        metadata,
        sa.Column("match_id", sa.String(36), primary_key=True),
        sa.Column("reviewer_id", sa.String(36), primary_key=True),
        sa.Column("partner_id", sa.String(36), nullable=False, index=True),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Table(
        name("candidates"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("active", sa.Boolean, nullable=False, default=True),
        sa.Column("onboarded", sa.Boolean, nullable=False, default=False),
        sa.Column("native_language_id", sa.Integer, index=True),
        sa.Column("gender", sa.String(20)),
        sa.Column("birth_year", sa.Integer, index=True),
        sa.Column("location_id", sa.Integer),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    targets = sa.Table(
        name("candidate_targets"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("language_id", sa.Integer, primary_key=True),
        sa.Column("level_id", sa.Integer, nullable=False),
        *(_copied_columns()),
    )
    sa.Index(name("ix_ct_language_recent"), targets.c.language_id, targets.c.updated_at)
    sa.Index(
        name("ix_ct_exchange_recent"),
        targets.c.language_id,
        targets.c.native_language_id,
        targets.c.updated_at,
    )
    sa.Index(name("ix_ct_level_recent"), targets.c.level_id, targets.c.updated_at)
    sa.Table(
        name("profile_embeddings"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


COPIED = ("native_language_id", "gender", "birth_year", "location_id", "active", "updated_at")
"""The ``candidates`` columns every ``candidate_targets`` row repeats, for single-table scans."""


def _copied_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("native_language_id", sa.Integer),
        sa.Column("gender", sa.String(20)),
        sa.Column("birth_year", sa.Integer),
        sa.Column("location_id", sa.Integer),
        sa.Column("active", sa.Boolean, nullable=False, default=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _request_ids(e: Any) -> dict[str, Any]:
    return {"request_id": e.request_id}


@matching.on(MatchRequested)
def _requested(e: MatchRequested, tx: ProjectionTx) -> None:
    tx.insert(
        "match_requests",
        {
            "request_id": e.request_id,
            "pair_id": str(e.aggregate_id),
            "sender_id": e.sender_id,
            "receiver_id": e.receiver_id,
            "message": e.message,
            "status": "pending",
            "created_at": e.meta.occurred_at,
            "expires_at": e.expires_at,
            "responded_at": None,
            "position": e.meta.position or 0,
        },
    )


@matching.on(MatchRequestAccepted)
def _accepted(e: MatchRequestAccepted, tx: ProjectionTx) -> None:
    tx.update(
        "match_requests",
        _request_ids(e),
        {"status": "accepted", "responded_at": e.meta.occurred_at, "position": e.meta.position},
    )
    first, second = sorted((e.sender_id, e.receiver_id))
    tx.insert(
        "matches",
        {
            "match_id": e.match_id,
            "pair_id": str(e.aggregate_id),
            "user_a": first,
            "user_b": second,
            "matched_at": e.meta.occurred_at,
            "active": True,
            "dissolved_at": None,
            "position": e.meta.position or 0,
        },
    )


def _close(status: str) -> Callable[[Any, ProjectionTx], None]:
    def handler(e: Any, tx: ProjectionTx) -> None:
        values = {"status": status, "responded_at": e.meta.occurred_at, "position": e.meta.position}
        tx.update("match_requests", _request_ids(e), values)

    return handler


matching.on(MatchRequestRejected)(_close("rejected"))
matching.on(MatchRequestCancelled)(_close("cancelled"))
matching.on(MatchRequestExpired)(_close("expired"))


@matching.on(MatchDissolved)
def _dissolved(e: MatchDissolved, tx: ProjectionTx) -> None:
    tx.update(
        "matches",
        {"match_id": e.match_id},
        {"active": False, "dissolved_at": e.meta.occurred_at, "position": e.meta.position},
    )


@matching.on(PartnerFeedbackGiven)
def _feedback(e: PartnerFeedbackGiven, tx: ProjectionTx) -> None:
    tx.insert(
        "feedback",
        {
            "match_id": e.match_id,
            "reviewer_id": e.reviewer_id,
            "partner_id": e.partner_id,
            "rating": e.rating,
            "given_at": e.meta.occurred_at,
        },
    )


@matching.on(UserBlocked)
def _blocked(e: UserBlocked, tx: ProjectionTx) -> None:
    tx.upsert(
        "blocks",
        {"blocker_id": e.blocker_id, "blocked_id": e.blocked_id, "blocked_at": e.meta.occurred_at},
        key=["blocker_id", "blocked_id"],
    )


@matching.on(UserUnblocked)
def _unblocked(e: UserUnblocked, tx: ProjectionTx) -> None:
    tx.delete("blocks", {"blocker_id": e.blocker_id, "blocked_id": e.blocked_id})


# -- candidate index --------------------------------------------------------------------
def _candidate(tx: ProjectionTx, user_id: str, event: Any, **columns: Any) -> None:
    values = {**columns, "updated_at": event.meta.occurred_at}
    # Account and profile events reach this row from different partitions, in either order.
    tx.upsert("candidates", {"user_id": user_id, **values}, key=["user_id"], latest=["updated_at"])
    tx.refresh_copies("candidate_targets", "candidates", "user_id", COPIED, user_id)


@matching.on(AccountRegistered)
def _registered(e: AccountRegistered, tx: ProjectionTx) -> None:
    _candidate(tx, str(e.aggregate_id), e, active=True)


@matching.on(AccountDeactivated)
def _deactivated(e: AccountDeactivated, tx: ProjectionTx) -> None:
    _candidate(tx, str(e.aggregate_id), e, active=False)


@matching.on(AccountDeleted)
def _deleted(e: AccountDeleted, tx: ProjectionTx) -> None:
    user_id = str(e.aggregate_id)
    tx.delete("candidates", {"user_id": user_id})
    tx.delete("candidate_targets", {"user_id": user_id})
    tx.delete("profile_embeddings", {"user_id": user_id})


@matching.on(NativeLanguageSet)
def _native(e: NativeLanguageSet, tx: ProjectionTx) -> None:
    _candidate(tx, e.user_id, e, native_language_id=e.language_id)


@matching.on(TargetLanguagesSet)
def _targets(e: TargetLanguagesSet, tx: ProjectionTx) -> None:
    """The copied columns are filled when the batch flushes (``_candidate`` asks for it)."""
    tx.delete("candidate_targets", {"user_id": e.user_id})
    for target in e.languages:
        row = {
            "user_id": e.user_id,
            "language_id": target.language_id,
            "level_id": target.current_level_id,
            "active": True,
            "updated_at": e.meta.occurred_at,
        }
        tx.insert("candidate_targets", row)
    _candidate(tx, e.user_id, e)


@matching.on(GenderSet)
def _gender(e: GenderSet, tx: ProjectionTx) -> None:
    _candidate(tx, e.user_id, e, gender=e.gender)


@matching.on(BirthYearSet)
def _birth_year(e: BirthYearSet, tx: ProjectionTx) -> None:
    year = int(e.birth_year) if e.birth_year.isdigit() else None
    _candidate(tx, e.user_id, e, birth_year=year)


@matching.on(ResidenceSet)
def _residence(e: ResidenceSet, tx: ProjectionTx) -> None:
    _candidate(tx, e.user_id, e, location_id=e.location_id)


@matching.on(OnboardingCompleted)
def _onboarded(e: OnboardingCompleted, tx: ProjectionTx) -> None:
    _candidate(tx, e.user_id, e, onboarded=True)


@matching.on(ProfileEmbedded)
def _embedded(e: ProfileEmbedded, tx: ProjectionTx) -> None:
    if e.vector == ERASED:  # replayed after the owner's key was destroyed
        tx.delete("profile_embeddings", {"user_id": e.user_id})
        return
    row = {
        "user_id": e.user_id,
        "model": e.model,
        "vector": base64.b64decode(e.vector),
        "updated_at": e.meta.occurred_at,
    }
    tx.upsert("profile_embeddings", row, key=["user_id"])


# -- queries ----------------------------------------------------------------------------
def embeddings_of(read_models: ReadModels, user_ids: list[str]) -> dict[str, array[float]]:
    """The latest profile vectors of these users (absent when not computed yet)."""
    table = read_models.table(matching, "profile_embeddings")
    query = sa.select(table.c.user_id, table.c.vector).where(table.c.user_id.in_(user_ids))
    with read_models.reads() as conn:
        return {user_id: unpack_vector(raw) for user_id, raw in conn.execute(query)}


def request_row(read_models: ReadModels, request_id: str) -> MatchRequestRow | None:
    table = read_models.table(matching, "match_requests")
    query = sa.select(table).where(table.c.request_id == request_id)
    return first_row(read_models, query, MatchRequestRow)


def match_row(read_models: ReadModels, match_id: str) -> MatchRow | None:
    table = read_models.table(matching, "matches")
    return first_row(read_models, sa.select(table).where(table.c.match_id == match_id), MatchRow)


def requests_of(
    read_models: ReadModels,
    user_id: str,
    *,
    direction: str,
    status: str | None,
    page: int,
    size: int,
) -> tuple[list[MatchRequestRow], int]:
    table = read_models.table(matching, "match_requests")
    column = table.c.sender_id if direction == "sent" else table.c.receiver_id
    conditions = [column == user_id]
    if status:
        conditions.append(table.c.status == status.lower())
    return page_of(read_models, table, conditions, MatchRequestRow,
                   order_by=table.c.created_at.desc(), page=page, size=size)  # fmt: skip


def matches_of(
    read_models: ReadModels, user_id: str, *, page: int, size: int
) -> tuple[list[MatchRow], int]:
    table = read_models.table(matching, "matches")
    conditions = [
        table.c.active.is_(True),
        sa.or_(table.c.user_a == user_id, table.c.user_b == user_id),
    ]
    return page_of(read_models, table, conditions, MatchRow,
                   order_by=table.c.matched_at.desc(), page=page, size=size)  # fmt: skip


def request_changes(read_models: ReadModels, user_id: str, window: Window) -> list[MatchRequestRow]:
    """Match requests to or from the user made or answered in the window (sync)."""
    table = read_models.table(matching, "match_requests")
    query = sa.select(table).where(
        sa.or_(table.c.sender_id == user_id, table.c.receiver_id == user_id)
    )
    return window.rows(read_models, query, table.c.position, MatchRequestRow)


def match_changes(read_models: ReadModels, user_id: str, window: Window) -> list[MatchRow]:
    """The user's matches made or dissolved in the window (sync)."""
    table = read_models.table(matching, "matches")
    query = sa.select(table).where(sa.or_(table.c.user_a == user_id, table.c.user_b == user_id))
    return window.rows(read_models, query, table.c.position, MatchRow)
