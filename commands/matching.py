"""Matching commands: each loads the pair aggregate of the two users involved and lets it
decide. Requests and matches are addressed by id in the API, so the pair is found through
the requests/matches read model first and then loaded from the event store (the read model
only locates; the aggregate decides)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from commands.base import CommandBus, CommandContext, Outcome, UnitOfWork
from domain.errors import NotFound
from domain.identity import Account
from domain.matching import MatchPair, pair_id
from domain.profile_embeddings import ProfileEmbedding, embedding_id
from domain.profiles import Profile, profile_id

"""The worker job that recomputes a learner's profile embedding (``workers/embeddings.py``)."""


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    target_user_id: UUID = Field(alias="targetUserId")
    message: str = Field(default="", max_length=500)


class Respond(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    response_message: str = Field(default="", max_length=500, alias="responseMessage")


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    partner_id: UUID = Field(alias="partnerId")
    match_id: UUID = Field(alias="matchId")
    overall_rating: int = Field(ge=1, le=5, alias="overallRating")
    written_feedback: str = Field(default="", max_length=1000, alias="writtenFeedback")
    would_match_again: bool | None = Field(default=None, alias="wouldMatchAgain")


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reason: str = Field(min_length=1, max_length=50)
    details: str = Field(default="", max_length=1000)


def _require_active_user(uow: UnitOfWork, user_id: str) -> None:
    account = uow.load(Account, UUID(user_id))
    if not account.active:
        raise NotFound("no such user", code="USER_NOT_FOUND")


def send_request(
    bus: CommandBus, ctx: CommandContext, *, sender_id: str, command: SendRequest
) -> Outcome:
    receiver_id = str(command.target_user_id)

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        if receiver_id != sender_id:
            _require_active_user(uow, receiver_id)
        pair = uow.load(MatchPair, pair_id(sender_id, receiver_id))
        receiver = uow.load(Profile, profile_id(receiver_id))
        accepts = receiver.items.get("settings:matching", {}).get("allowMatchRequests", True)
        request_id = pair.request(
            uow.cause,
            sender_id=sender_id,
            receiver_id=receiver_id,
            message=command.message,
            receiver_accepts=accepts,
        )
        return {
            "request_id": request_id,
            "pair_id": str(pair.id),
            "matched": pair.match_id is not None,
        }

    return bus.run("matching.SendRequest", ctx, decide)


def on_pair(bus: CommandBus, ctx: CommandContext, name: str, pair: UUID, action: Any) -> Outcome:
    """Run ``action(pair_aggregate, cause)`` on a pair located through the read model."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        aggregate = uow.load(MatchPair, pair)
        if not aggregate.version:
            raise NotFound("not found", code="NOT_FOUND")
        result = action(aggregate, uow.cause)
        return {"pair_id": str(pair), "result": result}

    return bus.run(f"matching.{name}", ctx, decide)


def set_block(
    bus: CommandBus, ctx: CommandContext, *, blocker_id: str, blocked_id: str, on: bool
) -> Outcome:
    """Block (``on``) or unblock another user; both are no-ops when already so."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        pair = uow.load(MatchPair, pair_id(blocker_id, blocked_id))
        change = pair.block if on else pair.unblock
        change(uow.cause, blocker_id=blocker_id, blocked_id=blocked_id)
        return {"blocked": on}

    return bus.run("matching.Block" if on else "matching.Unblock", ctx, decide)


def report(
    bus: CommandBus, ctx: CommandContext, *, reporter_id: str, reported_id: str, command: Report
) -> Outcome:
    def decide(uow: UnitOfWork) -> dict[str, Any]:
        _require_active_user(uow, reported_id)
        pair = uow.load(MatchPair, pair_id(reporter_id, reported_id))
        pair.report(
            uow.cause,
            reporter_id=reporter_id,
            reported_id=reported_id,
            reason=command.reason,
            details=command.details,
        )
        return {"reported": reported_id}

    return bus.run("matching.Report", ctx, decide)


def record_profile_embedding(
    bus: CommandBus,
    ctx: CommandContext,
    *,
    user_id: str,
    profile_version: int,
    model: str,
    digest: str,
    vector: str,
) -> Outcome:
    """Keep a worker's vector for a profile (ignored when stale or unchanged)."""

    def decide(uow: UnitOfWork) -> dict[str, Any]:
        embedding = uow.load(ProfileEmbedding, embedding_id(user_id))
        recorded = embedding.record(
            uow.cause,
            user_id=user_id,
            profile_version=profile_version,
            model=model,
            digest=digest,
            vector=vector,
        )
        return {"recorded": recorded}

    return bus.run("matching.RecordProfileEmbedding", ctx, decide)
