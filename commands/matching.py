"""Matching commands: each a decision of the *pair* aggregate of the two users involved
(``domain.matching.MatchPair``).

Requests and matches are addressed by id in the API, so the router locates the pair
through the requests/matches read model and names it in the command (``pair_id``); the
command then loads the pair from the event store and lets it decide (the read model only
locates, the aggregate decides). A pair with no history is "not found", whatever the read
model said.
"""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID

from pydantic import Field

from commands.base import Command, CommandBus, CommandContext, OnOne, Outcome, UnitOfWork
from domain.aggregate import Cause
from domain.errors import NotFound
from domain.identity import Account
from domain.matching import MatchPair, pair_id
from domain.profile_embeddings import ProfileEmbedding, embedding_id
from domain.profiles import Profile, profile_id

MAX_MESSAGE = 500


class PairCommand(Command):
    """A decision about a request or match that already exists: its pair is known."""

    pair_id: UUID


def _existing(pair: MatchPair, command: PairCommand) -> None:
    if not pair.version:
        raise NotFound("not found", code="NOT_FOUND")


on_pair = OnOne(MatchPair, lambda c: c.pair_id, start=_existing)


class RequestCommand(PairCommand):
    """What a user does to a pending request (``user_id``: who does it)."""

    request_id: str = Field(max_length=36)
    user_id: str = Field(max_length=36)


class AcceptRequest(RequestCommand):
    """The receiver accepts; the answer names the match it became."""


@on_pair
def accept_request(pair: MatchPair, cause: Cause, command: AcceptRequest) -> dict[str, Any]:
    match_id = pair.accept(cause, request_id=command.request_id, by_user_id=command.user_id)
    return {"pair_id": str(pair.id), "match_id": match_id}


class RejectRequest(RequestCommand):
    """The receiver declines."""


@on_pair
def reject_request(pair: MatchPair, cause: Cause, command: RejectRequest) -> dict[str, Any]:
    pair.reject(cause, request_id=command.request_id, by_user_id=command.user_id)
    return {"pair_id": str(pair.id), "match_id": None}


class CancelRequest(RequestCommand):
    """The sender withdraws."""


@on_pair
def cancel_request(pair: MatchPair, cause: Cause, command: CancelRequest) -> dict[str, Any]:
    pair.cancel(cause, request_id=command.request_id, by_user_id=command.user_id)
    return {"pair_id": str(pair.id), "match_id": None}


class ExpireRequest(PairCommand):
    """The scheduled expiry: a no-op unless the request is still pending and overdue."""

    request_id: str = Field(max_length=36)


@on_pair
def expire_request(pair: MatchPair, cause: Cause, command: ExpireRequest) -> None:
    pair.expire(cause, request_id=command.request_id)


class DissolveMatch(PairCommand):
    """Either member ends the match (a no-op for a match already over)."""

    match_id: str = Field(max_length=36)
    user_id: str = Field(max_length=36)


@on_pair
def dissolve_match(pair: MatchPair, cause: Cause, command: DissolveMatch) -> dict[str, Any]:
    pair.dissolve(cause, match_id=command.match_id, by_user_id=command.user_id)
    return {"pair_id": str(pair.id)}


class GiveFeedback(PairCommand):
    """A member rates the partner of a match, once per match."""

    match_id: str = Field(max_length=36)
    reviewer_id: str = Field(max_length=36)
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)
    would_match_again: bool | None = None


@on_pair
def give_feedback(pair: MatchPair, cause: Cause, command: GiveFeedback) -> None:
    pair.give_feedback(cause, match_id=command.match_id, reviewer_id=command.reviewer_id,
                       rating=command.rating, comment=command.comment,
                       would_match_again=command.would_match_again)  # fmt: skip


class BetweenUsers(Command):
    """A decision of one user about another, whose pair may have no history yet."""

    user_id: str = Field(max_length=36)
    other_id: str = Field(max_length=36)


on_users = OnOne(MatchPair, lambda c: pair_id(c.user_id, c.other_id))


class BlockUser(BetweenUsers):
    """``user_id`` blocks ``other_id``: whatever is pending or matched between them ends."""


@on_users
def block_user(pair: MatchPair, cause: Cause, command: BlockUser) -> None:
    pair.block(cause, blocker_id=command.user_id, blocked_id=command.other_id)


class UnblockUser(BetweenUsers):
    """A no-op when ``user_id`` does not block ``other_id``."""


@on_users
def unblock_user(pair: MatchPair, cause: Cause, command: UnblockUser) -> None:
    pair.unblock(cause, blocker_id=command.user_id, blocked_id=command.other_id)


# -- commands that read a second aggregate ------------------------------------------------
def _require_active_user(uow: UnitOfWork, user_id: str) -> None:
    account = uow.load(Account, UUID(user_id))
    if not account.active:
        raise NotFound("no such user", code="USER_NOT_FOUND")


class SendRequest(BetweenUsers):
    """``user_id`` asks ``other_id`` to match; a pending request the other way becomes the
    match at once. Needs the receiver's account (active) and matching settings."""

    message: str = Field(default="", max_length=MAX_MESSAGE)


class RequestSent(TypedDict):
    """The new request; ``matched``: it met a pending request the other way and became the
    match."""

    request_id: str
    pair_id: str
    matched: bool


def send_request(
    bus: CommandBus, ctx: CommandContext, command: SendRequest
) -> Outcome[RequestSent]:
    sender_id, receiver_id = command.user_id, command.other_id

    def decide(uow: UnitOfWork) -> RequestSent:
        if receiver_id != sender_id:
            _require_active_user(uow, receiver_id)
        pair = uow.load(MatchPair, pair_id(sender_id, receiver_id))
        receiver = uow.load(Profile, profile_id(receiver_id))
        accepts = receiver.items.get("settings:matching", {}).get("allowMatchRequests", True)
        request_id = pair.request(uow.cause, sender_id=sender_id, receiver_id=receiver_id,
                                  message=command.message, receiver_accepts=accepts)  # fmt: skip
        return {
            "request_id": request_id,
            "pair_id": str(pair.id),
            "matched": pair.match_id is not None,
        }

    return bus.run("matching.SendRequest", ctx, decide)


class ReportUser(BetweenUsers):
    """``user_id`` reports ``other_id`` (an active user) to the operators."""

    reason: str = Field(min_length=1, max_length=50)
    details: str = Field(default="", max_length=1000)


def report_user(bus: CommandBus, ctx: CommandContext, command: ReportUser) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        _require_active_user(uow, command.other_id)
        pair = uow.load(MatchPair, pair_id(command.user_id, command.other_id))
        pair.report(uow.cause, reporter_id=command.user_id, reported_id=command.other_id,
                    reason=command.reason, details=command.details)  # fmt: skip
        return {"reported": command.other_id}

    return bus.run("matching.ReportUser", ctx, decide)


class RecordProfileEmbedding(Command):
    """A worker's vector for a profile (ignored when stale or unchanged)."""

    user_id: str = Field(max_length=36)
    profile_version: int
    model: str
    digest: str
    vector: str


@OnOne(ProfileEmbedding, lambda c: embedding_id(c.user_id))
def record_profile_embedding(
    embedding: ProfileEmbedding, cause: Cause, command: RecordProfileEmbedding
) -> dict[str, Any]:
    recorded = embedding.record(cause, user_id=command.user_id,
                                profile_version=command.profile_version, model=command.model,
                                digest=command.digest, vector=command.vector)  # fmt: skip
    return {"recorded": recorded}
