"""Requests, matches, feedback, blocks and reports (spa-contract 4.5): what the SPA does
between two learners once it has found a partner. Each write is a named command of
``commands/matching.py``; requests and matches are addressed by id, so the pair they
belong to is located through the read model first.

Request status strings are lowercase (``pending``/``accepted``/``rejected``...) because the
SPA compares them that way; duplicate and already-matched requests are 409 with the words
the SPA searches for.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import (
    MAX_PAGE,
    CallerDep,
    OriginDep,
    PresenceDep,
    ReadModelsDep,
    UserContext,
    Writes,
    WritesDep,
)
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.schemas import matching as body
from api.views.matching import match_item, page_bounds, paged, partner_card, request_item
from commands import matching as cmd
from commands.base import CommandContext, Handler
from domain import reference as ref
from domain.compatibility import LearnerProfile
from domain.matching import pair_id
from domain.ranking import overall_score
from eventflow.readmodels import ReadModels
from infra.presence import Presence
from projections import matching as rm
from projections.identity import get_account, get_accounts
from projections.profiles import blank_profile, get_profile, get_profiles

router = APIRouter(prefix="/api/v1/matching", tags=["matching"])
R = TypeVar("R", bound=cmd.RequestCommand)
B = TypeVar("B", bound=cmd.BetweenUsers)


# -- requests ---------------------------------------------------------------------------
@router.post("/request")
def post_request(
    sent: body.MatchRequest,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
) -> dict[str, Any]:
    """The new request as the "sent" list shows it (the SPA adds this answer to that list
    at once, so without the receiver's name the card read "파트너" until the next fetch)."""
    receiver = str(sent.target_user_id)
    command = cmd.SendRequest(user_id=caller.user_id, other_id=receiver, message=sent.message)
    outcome = writes.issue(cmd.send_request, ctx, command)
    writes.services.wait_applied(rm.matching, outcome, UUID(outcome.result["pair_id"]))
    result = outcome.result
    row = rm.request_row(read_models, result["request_id"])
    shown = {}
    if row is not None:  # absent only when the read model is late (X-Read-Your-Writes: late)
        account = get_account(read_models, receiver)
        profile = get_profile(read_models, receiver)
        shown = request_item(origin, row, receiver, account, profile, "receiver")
    return ok({**shown, "requestId": result["request_id"], "success": True,
               "matched": result["matched"]})  # fmt: skip


def _answer(
    writes: Writes,
    read_models: ReadModels,
    ctx: CommandContext,
    handler: Handler[R],
    kind: type[R],
    request_id: str,
    user_id: str,
) -> dict[str, Any]:
    """Locate the request's pair, run the command on it, answer once the lists show it."""
    row = rm.request_row(read_models, request_id)
    if row is None or user_id not in (row["sender_id"], row["receiver_id"]):
        raise ApiError(404, "no such match request", "REQUEST_NOT_FOUND")
    pair = UUID(row["pair_id"])
    command = kind(pair_id=pair, request_id=request_id, user_id=user_id)
    outcome = writes.issue(handler, ctx, command, visible_in=rm.matching, key=pair)
    return ok({"requestId": request_id, "matchId": outcome.result["match_id"], "success": True})


@router.post("/accept/{request_id}")
def post_accept(
    request_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    _: body.Respond | None = None,
) -> dict[str, Any]:
    return _answer(writes, read_models, ctx, cmd.accept_request, cmd.AcceptRequest, request_id,
                   caller.user_id)  # fmt: skip


@router.post("/reject/{request_id}")
def post_reject(
    request_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
    _: body.Respond | None = None,
) -> dict[str, Any]:
    return _answer(writes, read_models, ctx, cmd.reject_request, cmd.RejectRequest, request_id,
                   caller.user_id)  # fmt: skip


@router.delete("/requests/{request_id}")
def delete_request(
    request_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    """The sender withdraws a pending request."""
    return _answer(writes, read_models, ctx, cmd.cancel_request, cmd.CancelRequest, request_id,
                   caller.user_id)  # fmt: skip


def _requests(
    read_models: ReadModels, origin: str, user_id: str, direction: str, status: str | None,
    page: int, size: int,
) -> dict[str, Any]:  # fmt: skip
    page, size = page_bounds(page, size)
    rows, total = rm.requests_of(read_models, user_id, direction=direction, status=status,
                                 page=page, size=size)  # fmt: skip
    side = "receiver" if direction == "sent" else "sender"
    ids = [r["receiver_id"] if direction == "sent" else r["sender_id"] for r in rows]
    accounts, profiles = get_accounts(read_models, ids), get_profiles(read_models, ids)
    items = [request_item(origin, r, i, accounts.get(i), profiles.get(i), side)
             for r, i in zip(rows, ids, strict=True)]  # fmt: skip
    return paged(items, page, size, total)


StatusFilter = Annotated[
    str | None, Query(pattern=r"^(?i)(pending|accepted|rejected|cancelled|expired)$")
]


@router.get("/requests/sent")
def get_sent(
    caller: CallerDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
    status: StatusFilter = None,
) -> dict[str, Any]:
    return _requests(read_models, origin, caller.user_id, "sent", status, page, size)


@router.get("/requests/received")
def get_received(
    caller: CallerDep,
    read_models: ReadModelsDep,
    origin: OriginDep,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
    status: StatusFilter = None,
) -> dict[str, Any]:
    return _requests(read_models, origin, caller.user_id, "received", status, page, size)


# -- matches ----------------------------------------------------------------------------
def _matches(
    read_models: ReadModels, presence: Presence, origin: str, user_id: str, lang: ref.Lang,
    page: int, size: int,
) -> tuple[list[dict[str, Any]], int, int, int]:  # fmt: skip
    page, size = page_bounds(page, size)
    rows, total = rm.matches_of(read_models, user_id, page=page, size=size)
    partners = [r["user_b"] if r["user_a"] == user_id else r["user_a"] for r in rows]
    accounts, profiles = get_accounts(read_models, partners), get_profiles(read_models, partners)
    seen = presence.of(partners, time.time())
    me = LearnerProfile.from_row(get_profile(read_models, user_id) or blank_profile(user_id))
    items = []
    for row, partner_id in zip(rows, partners, strict=True):
        profile = profiles.get(partner_id) or blank_profile(partner_id)
        score = overall_score(me, LearnerProfile.from_row(profile))
        account = accounts.get(partner_id)
        name = account["name"] if account else None
        card = partner_card(origin, profile, name, score, lang, seen[partner_id])
        items.append(match_item(card, row, partner_id))
    return items, total, page, size


@router.get("/matches")
def get_matches(
    caller: CallerDep,
    read_models: ReadModelsDep,
    presence: PresenceDep,
    origin: OriginDep,
    lang: UserLang,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
) -> dict[str, Any]:
    items, total, page, size = _matches(read_models, presence, origin, caller.user_id, lang,
                                        page, size)  # fmt: skip
    return paged(items, page, size, total)


@router.get("/my-matches")
def get_my_matches(
    caller: CallerDep,
    read_models: ReadModelsDep,
    presence: PresenceDep,
    origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:
    items, total, _, _ = _matches(read_models, presence, origin, caller.user_id, lang, 1, 50)
    return ok({"matches": items, "total": total})


def _match_pair(read_models: ReadModels, match_id: str, *members: str) -> UUID:
    """The pair of a match the given users are both members of (else 404)."""
    row = rm.match_row(read_models, match_id)
    if row is None or not set(members) <= {row["user_a"], row["user_b"]}:
        raise ApiError(404, "no such match", "MATCH_NOT_FOUND")
    return UUID(row["pair_id"])


@router.delete("/matches/{match_id}")
def delete_match(
    match_id: str,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    pair = _match_pair(read_models, match_id, caller.user_id)
    command = cmd.DissolveMatch(pair_id=pair, match_id=match_id, user_id=caller.user_id)
    writes.issue(cmd.dissolve_match, ctx, command, visible_in=rm.matching, key=pair)
    return ok({"matchId": match_id, "dissolved": True})


@router.post("/feedback")
def post_feedback(
    feedback: body.Feedback,
    caller: CallerDep,
    ctx: UserContext,
    writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:
    match_id = str(feedback.match_id)
    pair = _match_pair(read_models, match_id, caller.user_id, str(feedback.partner_id))
    command = cmd.GiveFeedback(pair_id=pair, match_id=match_id, reviewer_id=caller.user_id,
                               rating=feedback.overall_rating, comment=feedback.written_feedback,
                               would_match_again=feedback.would_match_again)  # fmt: skip
    writes.issue(cmd.give_feedback, ctx, command)
    return ok({"saved": True})


# -- blocks and reports -----------------------------------------------------------------
def _block(
    writes: Writes, ctx: CommandContext, handler: Handler[B], command: B, on: bool,
) -> dict[str, Any]:  # fmt: skip
    key = pair_id(command.user_id, command.other_id)
    writes.issue(handler, ctx, command, visible_in=rm.matching, key=key)
    return ok({"blocked": on})


@router.post("/block/{user_id}")
def post_block(
    user_id: UUID, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.BlockUser(user_id=caller.user_id, other_id=str(user_id))
    return _block(writes, ctx, cmd.block_user, command, on=True)


@router.delete("/block/{user_id}")
def delete_block(
    user_id: UUID, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.UnblockUser(user_id=caller.user_id, other_id=str(user_id))
    return _block(writes, ctx, cmd.unblock_user, command, on=False)


@router.post("/report/{user_id}")
def post_report(
    user_id: UUID, report: body.Report, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.ReportUser(user_id=caller.user_id, other_id=str(user_id),
                             reason=report.reason, details=report.details)  # fmt: skip
    writes.issue(cmd.report_user, ctx, command)
    return ok({"reported": True})
