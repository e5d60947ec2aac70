"""Matching read models: requests, matches, blocks, and the candidate index for search.

The candidate index (``candidates`` + ``candidate_targets``) is kept from account and profile
events so partner search filters on indexed columns instead of scanning every profile: the
language-exchange filter alone ("speaks what I learn, learns what I speak") cuts 100,000
users to a few thousand rows through ``candidate_targets(language_id)``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

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
from projections.engine import Projection, ProjectionTx, ReadModels, page_of

matching = Projection("matching")


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
    sa.Table(
        name("candidate_targets"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("language_id", sa.Integer, primary_key=True, index=True),
        sa.Column("level_id", sa.Integer, nullable=False, index=True),
    )
    sa.Table(
        name("profile_embeddings"),
        metadata,
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


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
        },
    )


@matching.on(MatchRequestAccepted)
def _accepted(e: MatchRequestAccepted, tx: ProjectionTx) -> None:
    tx.update(
        "match_requests",
        _request_ids(e),
        {"status": "accepted", "responded_at": e.meta.occurred_at},
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
        },
    )


def _close(status: str) -> Callable[[Any, ProjectionTx], None]:
    def handler(e: Any, tx: ProjectionTx) -> None:
        values = {"status": status, "responded_at": e.meta.occurred_at}
        tx.update("match_requests", _request_ids(e), values)

    return handler


matching.on(MatchRequestRejected)(_close("rejected"))
matching.on(MatchRequestCancelled)(_close("cancelled"))
matching.on(MatchRequestExpired)(_close("expired"))


@matching.on(MatchDissolved)
def _dissolved(e: MatchDissolved, tx: ProjectionTx) -> None:
    tx.update(
        "matches", {"match_id": e.match_id}, {"active": False, "dissolved_at": e.meta.occurred_at}
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
    tx.upsert(
        "candidates",
        {"user_id": user_id, **columns, "updated_at": event.meta.occurred_at},
        key=["user_id"],
    )


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
    tx.delete("candidate_targets", {"user_id": e.user_id})
    for target in e.languages:
        tx.insert(
            "candidate_targets",
            {
                "user_id": e.user_id,
                "language_id": target.language_id,
                "level_id": target.current_level_id,
            },
        )
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
def embeddings_of(read_models: ReadModels, user_ids: list[str]) -> dict[str, Any]:
    """The latest profile vectors of these users (absent when not computed yet)."""
    table = read_models.table(matching, "profile_embeddings")
    query = sa.select(table.c.user_id, table.c.vector).where(table.c.user_id.in_(user_ids))
    with read_models.engine.connect() as conn:
        return {user_id: unpack_vector(raw) for user_id, raw in conn.execute(query)}


def request_row(read_models: ReadModels, request_id: str) -> dict[str, Any] | None:
    table = read_models.table(matching, "match_requests")
    with read_models.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.request_id == request_id)).first()
    return dict(row._mapping) if row else None


def match_row(read_models: ReadModels, match_id: str) -> dict[str, Any] | None:
    table = read_models.table(matching, "matches")
    with read_models.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.match_id == match_id)).first()
    return dict(row._mapping) if row else None


def requests_of(
    read_models: ReadModels,
    user_id: str,
    *,
    direction: str,
    status: str | None,
    page: int,
    size: int,
) -> tuple[list[dict[str, Any]], int]:
    table = read_models.table(matching, "match_requests")
    column = table.c.sender_id if direction == "sent" else table.c.receiver_id
    conditions = [column == user_id]
    if status:
        conditions.append(table.c.status == status.lower())
    return page_of(
        read_models, table, conditions, order_by=table.c.created_at.desc(), page=page, size=size
    )


def matches_of(
    read_models: ReadModels, user_id: str, *, page: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    table = read_models.table(matching, "matches")
    conditions = [
        table.c.active.is_(True),
        sa.or_(table.c.user_a == user_id, table.c.user_b == user_id),
    ]
    return page_of(
        read_models, table, conditions, order_by=table.c.matched_at.desc(), page=page, size=size
    )


def excluded_for(read_models: ReadModels, user_id: str) -> set[str]:
    """Users a search must never show: blocked either way, or already matched."""
    blocks = read_models.table(matching, "blocks")
    matches = read_models.table(matching, "matches")
    with read_models.engine.connect() as conn:
        blocked = conn.execute(
            sa.select(blocks.c.blocked_id)
            .where(blocks.c.blocker_id == user_id)
            .union(sa.select(blocks.c.blocker_id).where(blocks.c.blocked_id == user_id))
        ).scalars()
        matched = conn.execute(
            sa.select(matches.c.user_a, matches.c.user_b).where(
                matches.c.active.is_(True),
                sa.or_(matches.c.user_a == user_id, matches.c.user_b == user_id),
            )
        ).all()
    result = set(blocked)
    for a, b in matched:
        result.update((a, b))
    result.add(user_id)
    return result


def search_candidates(
    read_models: ReadModels,
    user_id: str,
    *,
    native_language_id: int | None,
    target_language_id: int | None,
    level_ids: list[int] | None,
    birth_year_range: tuple[int, int] | None,
    gender: str | None,
    exchange_with: tuple[int | None, list[int]],
    limit: int,
    location_ids: list[int] | None = None,
) -> tuple[list[str], int]:
    """Filtered candidate ids (exchange partners first, then most recently active) and the
    real total. ``exchange_with`` is (my native language, my target languages)."""
    candidates = read_models.table(matching, "candidates")
    targets = read_models.table(matching, "candidate_targets")
    excluded = excluded_for(read_models, user_id)
    conditions: list[Any] = [candidates.c.active.is_(True), candidates.c.user_id.not_in(excluded)]
    if native_language_id is not None:
        conditions.append(candidates.c.native_language_id == native_language_id)
    if target_language_id is not None or level_ids:
        sub = sa.select(targets.c.user_id)
        if target_language_id is not None:
            sub = sub.where(targets.c.language_id == target_language_id)
        if level_ids:
            sub = sub.where(targets.c.level_id.in_(level_ids))
        conditions.append(candidates.c.user_id.in_(sub))
    if birth_year_range is not None:
        conditions.append(candidates.c.birth_year.between(*birth_year_range))
    if gender:
        conditions.append(candidates.c.gender == gender)
    if location_ids is not None:
        conditions.append(candidates.c.location_id.in_(location_ids))
    my_native, my_targets = exchange_with
    exchange = sa.and_(
        candidates.c.native_language_id.in_(my_targets or [-1]),
        candidates.c.user_id.in_(
            sa.select(targets.c.user_id).where(targets.c.language_id == (my_native or -1))
        ),
    )
    with read_models.engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(candidates).where(*conditions)
        ).scalar_one()
        # Two index-friendly queries instead of one ORDER BY over an expression, which would
        # sort every matching row: exchange partners first, then the most recently active.
        newest = sa.select(candidates.c.user_id).where(*conditions)
        newest = newest.order_by(candidates.c.updated_at.desc()).limit(limit)
        ids = list(conn.execute(newest.where(exchange)).scalars())
        if len(ids) < limit:
            seen = set(ids)
            ids += [i for i in conn.execute(newest).scalars() if i not in seen][: limit - len(ids)]
        return ids, int(total)
