"""Matching read models: requests, matches, blocks, and the candidate index for search.

The candidate index is kept from account and profile events so partner search filters on
indexed columns instead of scanning every profile. ``candidates`` has one row per user;
``candidate_targets`` one row per user and language they learn, carrying a copy of the
user's filter columns (native language, gender, birth year, location, active, updated_at).
The copy is what makes a language filter fast: "learns Korean, born 1990-2000, newest
first" is one range scan of ``(language_id, updated_at)`` instead of a join of every
candidate with every Korean learner. Handlers keep the copies in step with ``candidates``.

One projection, so one module, past 500 lines for that reason: a search excludes the
caller's blocks and matches, so the candidate index and the pair tables must be one
projection (one version, rebuilt and switched together; split in two, a rebuild of one
would serve searches that show blocked users), and a projection's tables, handlers and
queries live in one module like every other read model. The ranking of what a search
finds is ``domain.ranking``'s.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
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
from eventflow.buffer import ProjectionTx
from eventflow.projection import Projection
from eventflow.queries import Window, page_of
from eventflow.readmodels import ReadModels

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


@dataclass(frozen=True)
class CandidateFilter:
    """What a partner search asks for."""

    native_language_id: int | None = None
    target_language_id: int | None = None
    level_ids: tuple[int, ...] = ()
    birth_year_range: tuple[int, int] | None = None
    gender: str | None = None
    location_ids: tuple[int, ...] | None = None

    def columns(self, table: sa.Table | Any) -> list[Any]:
        """Conditions on the columns ``candidates`` and ``candidate_targets`` share."""
        found = [table.c.active.is_(True), table.c.native_language_id.is_not(None)]
        if self.native_language_id is not None:
            found.append(table.c.native_language_id == self.native_language_id)
        if self.birth_year_range is not None:
            found.append(table.c.birth_year.between(*self.birth_year_range))
        if self.gender:
            found.append(table.c.gender == self.gender)
        if self.location_ids is not None:
            found.append(table.c.location_id.in_(self.location_ids))
        return found

    def learning(self, targets: sa.Table | Any) -> list[Any]:
        """Conditions on what the candidate learns (a ``candidate_targets`` row)."""
        found = []
        if self.target_language_id is not None:
            found.append(targets.c.language_id == self.target_language_id)
        if self.level_ids:
            found.append(targets.c.level_id.in_(self.level_ids))
        return found


def search_candidates(
    read_models: ReadModels,
    user_id: str,
    wanted: CandidateFilter,
    *,
    exchange_with: tuple[int | None, list[int]],
    limit: int,
) -> tuple[list[str], int]:
    """Filtered candidate ids (exchange partners first, then most recently active) and the
    total. ``exchange_with`` is (my native language, my target languages).

    A language or level filter reads ``candidate_targets`` alone (its rows carry the other
    filter columns), anything else reads ``candidates``; each id query walks one index in
    ``updated_at`` order and stops at ``limit``. Only someone with a language to exchange is
    a candidate: an account that has only signed in (no native or target language yet) has
    nothing to show on a partner card or to rank by, so it is left out.
    """
    candidates = read_models.table(matching, "candidates")
    targets = read_models.table(matching, "candidate_targets")
    excluded = excluded_for(read_models, user_id)
    learning = wanted.learning(targets)
    source = targets if learning else candidates
    scope = [*wanted.columns(source), *learning, source.c.user_id.not_in(excluded)]
    if source is candidates:  # a candidate_targets row is what says they learn something
        scope.append(sa.exists().where(targets.c.user_id == candidates.c.user_id))
    # A level filter without a language can meet one user in two of their target rows.
    distinct = bool(wanted.level_ids) and wanted.target_language_id is None
    matching_ids = sa.select(source.c.user_id).where(*scope)
    # COUNT over a DISTINCT subquery hashes; COUNT(DISTINCT ...) sorts (1.5x slower here).
    counting = sa.select(sa.func.count()).select_from(
        matching_ids.distinct().subquery() if distinct else matching_ids.subquery()
    )
    my_native, my_targets = exchange_with
    partner = targets.alias("partner")  # the row in which they learn my native language
    exchange = sa.select(partner.c.user_id).where(
        *wanted.columns(partner),
        partner.c.user_id.not_in(excluded),
        partner.c.language_id == (my_native or -1),
        partner.c.native_language_id.in_(my_targets or [-1]),
    )
    if wanted.level_ids:  # their level where we would talk
        exchange = exchange.where(partner.c.level_id.in_(wanted.level_ids))
    if wanted.target_language_id not in (None, my_native):
        also = targets.alias("also")
        exchange = exchange.where(
            sa.exists().where(
                also.c.user_id == partner.c.user_id,
                also.c.language_id == wanted.target_language_id,
            )
        )
    with read_models.engine.connect() as conn:
        total = int(conn.execute(counting).scalar_one())
        ids = list(
            conn.execute(
                exchange.order_by(partner.c.updated_at.desc(), partner.c.user_id).limit(limit)
            ).scalars()
        )
        if len(ids) < limit:
            # Rows of one user sit together (same updated_at); twice the room absorbs them.
            seen = set(ids)
            recent = matching_ids.order_by(source.c.updated_at.desc(), source.c.user_id)
            recent = recent.limit(2 * limit)
            for candidate_id in conn.execute(recent).scalars():
                if candidate_id not in seen:
                    seen.add(candidate_id)
                    ids.append(candidate_id)
        return ids[:limit], total


def request_changes(read_models: ReadModels, user_id: str, window: Window) -> list[dict[str, Any]]:
    """Match requests to or from the user made or answered in the window (sync)."""
    table = read_models.table(matching, "match_requests")
    query = sa.select(table).where(
        sa.or_(table.c.sender_id == user_id, table.c.receiver_id == user_id)
    )
    return window.rows(read_models, query, table.c.position)


def match_changes(read_models: ReadModels, user_id: str, window: Window) -> list[dict[str, Any]]:
    """The user's matches made or dissolved in the window (sync)."""
    table = read_models.table(matching, "matches")
    query = sa.select(table).where(sa.or_(table.c.user_a == user_id, table.c.user_b == user_id))
    return window.rows(read_models, query, table.c.position)
