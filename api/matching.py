"""Matching routes (spa-contract 4.5): partner search, requests, matches, blocks, feedback,
compatibility and matching settings.

Request status strings are lowercase (``pending``/``accepted``/``rejected``...) because the
SPA compares them that way; duplicate and already-matched requests are 409 with the words
the SPA searches for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import MAX_PAGE, CallerDep, Int64, RuntimeDep, UserContext, file_origin
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.services import Services
from api.views.files import file_url
from commands import matching as cmd
from commands.base import CommandContext, Outcome
from domain import reference as ref
from domain.compatibility import (
    LearnerProfile,
    availability_overlap,
    compatibility,
    explain_factors,
    level_fit,
    semantic_similarity,
)
from domain.matching import MatchPair, pair_id
from projections import matching as rm
from projections.identity import get_accounts
from projections.profiles import get_profile, get_profiles

router = APIRouter(prefix="/api/v1/matching", tags=["matching"])
SEARCH_POOL = 100
"""Candidates are scored in tiers of this many, in index order (exchange partners first,
then the most recently active); each tier is ranked by presence and score, and a deeper page
scores the tiers it reaches. Tiers keep pages consistent: every page is a slice of one
order, and page 1 costs the same however large the result."""
MAX_RESULTS = 10_000
"""How deep search pages go (page x size); a narrower filter finds anyone further down."""


def _page(page: int, size: int, limit: int = 50) -> tuple[int, int]:
    """The SPA sends page=0 in places; pages are 1-based here (contract 3.4)."""
    return max(page, 1), min(max(size, 1), limit)


def _paged(items: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
    pages = (total + size - 1) // size if size else 0
    return ok(
        items, meta={"page": page, "limit": size, "size": size, "total": total, "totalPages": pages}
    )


def _wait(rt: Services, outcome: Outcome, pair: UUID) -> None:
    rt.wait_applied(rm.matching, outcome, pair)


# -- search -----------------------------------------------------------------------------
def _age_range(min_age: int | None, max_age: int | None) -> tuple[int, int] | None:
    if min_age is None and max_age is None:
        return None
    year = datetime.now(UTC).year
    youngest, oldest = min_age or 0, max_age or 120
    if youngest > oldest:
        raise ApiError(422, "minAge must not exceed maxAge", "VALIDATION_ERROR")
    return year - oldest, year - youngest


def _level_ids(level: str | None) -> tuple[int, ...]:
    """``languageLevel`` arrives as a level id, a CEFR band (B1) or a level code."""
    if not level:
        return ()
    if level.isdigit():
        return (int(level),)
    wanted = level.strip().upper()
    ids = tuple(item.id for item in ref.language_levels() if wanted in (item.cefr, item.code))
    if not ids:
        raise ApiError(422, f"unknown languageLevel {level!r}", "VALIDATION_ERROR")
    return ids


def _location_ids(location: str | None, time_zone: str | None) -> tuple[int, ...] | None:
    """``location`` is a location id or an ISO country code; ``timeZone`` an IANA zone."""
    if not location and not time_zone:
        return None
    places = ref.locations()
    if location:
        wanted = location.strip().upper()
        places = tuple(p for p in places if str(p.id) == wanted or p.country_code == wanted)
    if time_zone:
        places = tuple(p for p in places if p.timezone == time_zone)
    if not places:
        raise ApiError(422, "unknown location or time zone", "VALIDATION_ERROR")
    return tuple(p.id for p in places)


def _language_id(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    language = ref.language_by_code(str(value).lower())
    if language is None:
        raise ApiError(422, f"unknown language {value!r}", "VALIDATION_ERROR")
    return language.id


def partner_card(
    rt: Services,
    request: Request,
    row: dict[str, Any],
    account: dict[str, Any],
    score: Any,
    lang: ref.Lang,
    presence: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    location = ref.location(row["location_id"]) if row.get("location_id") else None
    native = ref.language(row["native_language_id"]) if row.get("native_language_id") else None
    targets = []
    for target in row.get("target_languages") or []:
        language = ref.language(target["language_id"])
        level = ref.level(target["current_level_id"])
        targets.append(
            {
                "languageId": target["language_id"],
                "languageName": ref.label(language, lang) if language else None,
                "currentLevel": (level.cefr or ref.label(level, lang)) if level else None,
                "targetLevel": target["target_level_id"],
            }
        )
    topics = [ref.label(t, lang) for t in (ref.topic(i) for i in row.get("topics") or []) if t]
    personalities = [
        ref.label(p, lang)
        for p in (ref.partner_personality(i) for i in row.get("partner_personalities") or [])
        if p
    ]
    presence = presence or rt.presence.of([row["user_id"]], time.time())[row["user_id"]]
    year = int(row["birth_year"]) if row.get("birth_year") else None
    return {
        "userId": row["user_id"],
        "id": row["user_id"],
        "englishName": row.get("english_name") or account["name"],
        "name": account["name"],
        "profileImageUrl": file_url(file_origin(request, rt.settings), row.get("image_key")),
        "selfBio": row.get("bio") or "",
        "age": datetime.now(UTC).year - year if year else None,
        "gender": row.get("gender"),
        "location": f"{location.country.get(lang)}, {location.city.get(lang)}"
        if location
        else None,
        "timeZone": location.timezone if location else None,
        "nativeLanguage": ref.label(native, lang) if native else None,
        "targetLanguages": targets,
        "interests": topics,
        "partnerPersonalities": personalities,
        "compatibilityScore": score.overall,
        "compatibilityLevel": score.level,
        "onlineStatus": presence["status"],
        "lastActiveTime": presence["lastSeen"],
    }


def search(
    rt: Services,
    request: Request,
    user_id: str,
    lang: ref.Lang,
    wanted: rm.CandidateFilter,
    *,
    page: int,
    size: int,
    interests: list[int] | None = None,
    online_only: bool = False,
) -> dict[str, Any]:
    """Filter on the candidate index, score tier by tier, order each tier online first
    then by score."""
    if page * size > MAX_RESULTS:
        raise ApiError(
            422, f"results go {MAX_RESULTS} deep; narrow the filters", "VALIDATION_ERROR"
        )
    me_row = get_profile(rt.read_models, user_id) or {"user_id": user_id}
    me = LearnerProfile.from_row(me_row)
    tiers = -(-page * size // SEARCH_POOL)
    ids, total = rm.search_candidates(
        rt.read_models,
        user_id,
        wanted,
        exchange_with=(me.native_language_id, [t.language_id for t in me.targets]),
        limit=tiers * SEARCH_POOL,
    )
    rows = get_profiles(rt.read_models, ids)
    presence = rt.presence.of(ids, time.time())
    scored = []
    for index, candidate_id in enumerate(ids):
        row = rows.get(candidate_id, {"user_id": candidate_id})
        if interests and not set(interests) & set(row.get("topics") or []):
            continue
        online = presence[candidate_id]["status"] == "ONLINE"
        if online_only and not online:
            continue
        score = compatibility(me, LearnerProfile.from_row(row))
        tier = index // SEARCH_POOL
        scored.append((tier, not online, -score.overall, candidate_id, row, score))
    scored.sort(key=lambda item: item[:4])
    if interests or online_only:
        total = len(scored)
    window = scored[(page - 1) * size : page * size]
    # Accounts only for the page shown (the index already holds active accounts only; one
    # deleted since is left out rather than shown without a name).
    accounts = get_accounts(rt.read_models, [item[3] for item in window])
    cards = [
        partner_card(rt, request, row, accounts[cid], score, lang, presence[cid])
        for *_, cid, row, score in window
        if cid in accounts
    ]
    return _paged(cards, page, size, total)


@router.get("/partners")
def get_partners(
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    lang: UserLang,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(le=100)] = 20,
    nativeLanguage: str | None = None,  # noqa: N803
    targetLanguage: str | None = None,  # noqa: N803
    languageLevel: str | None = None,  # noqa: N803
    minAge: Annotated[int | None, Query(ge=0, le=120)] = None,  # noqa: N803
    maxAge: Annotated[int | None, Query(ge=0, le=120)] = None,  # noqa: N803
    gender: str | None = None,
    interests: Annotated[list[int] | None, Query()] = None,
    onlineOnly: bool = False,  # noqa: N803
    location: str | None = None,
    timeZone: str | None = None,  # noqa: N803
) -> dict[str, Any]:
    page, size = _page(page, size)
    return search(
        rt,
        request,
        caller.user_id,
        lang,
        rm.CandidateFilter(
            native_language_id=_language_id(nativeLanguage),
            target_language_id=_language_id(targetLanguage),
            level_ids=_level_ids(languageLevel),
            birth_year_range=_age_range(minAge, maxAge),
            gender=gender.upper() if gender else None,
            location_ids=_location_ids(location, timeZone),
        ),
        page=page,
        size=size,
        interests=interests,
        online_only=onlineOnly,
    )


Age = Annotated[int, Field(ge=0, le=120)]


class AdvancedSearch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str | None = Field(default=None, max_length=100)
    # Bounded like the GET search's minAge/maxAge: numbers past 64 bits reached SQLite
    # (OverflowError, a 500).
    ageRange: list[Age] | None = Field(default=None, min_length=2, max_length=2)  # noqa: N815
    gender: str | None = None
    targetLanguage: str | Int64 | None = None  # noqa: N815
    nativeLanguage: str | Int64 | None = None  # noqa: N815
    proficiencyLevel: str | None = None  # noqa: N815
    interests: list[int] | None = None
    onlineOnly: bool = False  # noqa: N815
    location: str | None = Field(default=None, max_length=40)
    timeZone: str | None = Field(default=None, max_length=60)  # noqa: N815


@router.post("/partners/advanced")
def post_partners_advanced(
    body: AdvancedSearch,
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    lang: UserLang,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(le=100)] = 20,
) -> dict[str, Any]:
    page, size = _page(page, size)
    ages = _age_range(body.ageRange[0], body.ageRange[1]) if body.ageRange else None
    gender = (
        body.gender.upper() if body.gender and body.gender.upper() not in ("ANY", "ALL") else None
    )
    return search(
        rt,
        request,
        caller.user_id,
        lang,
        rm.CandidateFilter(
            native_language_id=_language_id(body.nativeLanguage),
            target_language_id=_language_id(body.targetLanguage),
            level_ids=_level_ids(body.proficiencyLevel),
            birth_year_range=ages,
            gender=gender,
            location_ids=_location_ids(body.location, body.timeZone),
        ),
        page=page,
        size=size,
        interests=body.interests,
        online_only=body.onlineOnly,
    )


@router.get("/compatibility/{partner_id}")
def get_compatibility(
    partner_id: UUID, caller: CallerDep, rt: RuntimeDep, lang: UserLang
) -> dict[str, Any]:
    partner_row = get_profile(rt.read_models, str(partner_id))
    if partner_row is None or str(partner_id) == caller.user_id:
        raise ApiError(404, "user not found", "USER_NOT_FOUND")
    me = LearnerProfile.from_row(
        get_profile(rt.read_models, caller.user_id) or {"user_id": caller.user_id}
    )
    return ok(compatibility(me, LearnerProfile.from_row(partner_row)).as_response(lang))


# -- requests ---------------------------------------------------------------------------
@router.post("/request")
def post_request(
    body: cmd.SendRequest, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    outcome = cmd.send_request(rt.bus, ctx, sender_id=caller.user_id, command=body)
    _wait(rt, outcome, UUID(outcome.result["pair_id"]))
    return ok(
        {
            "requestId": outcome.result["request_id"],
            "success": True,
            "matched": outcome.result["matched"],
        }
    )


def _request_pair(rt: Services, request_id: str, user_id: str) -> UUID:
    row = rm.request_row(rt.read_models, request_id)
    if row is None or user_id not in (row["sender_id"], row["receiver_id"]):
        raise ApiError(404, "no such match request", "REQUEST_NOT_FOUND")
    return UUID(row["pair_id"])


def _on_request(
    rt: Services, ctx: CommandContext, name: str, request_id: str, user_id: str, method: str
) -> dict[str, Any]:
    pair = _request_pair(rt, request_id, user_id)

    def action(aggregate: MatchPair, cause: Any) -> Any:
        return getattr(aggregate, method)(cause, request_id=request_id, by_user_id=user_id)

    outcome = cmd.on_pair(rt.bus, ctx, name, pair, action)
    _wait(rt, outcome, pair)
    return ok({"requestId": request_id, "matchId": outcome.result["result"], "success": True})


@router.post("/accept/{request_id}")
def post_accept(
    request_id: str,
    caller: CallerDep,
    ctx: UserContext,
    rt: RuntimeDep,
    body: cmd.Respond | None = None,
) -> dict[str, Any]:
    return _on_request(rt, ctx, "Accept", request_id, caller.user_id, "accept")


@router.post("/reject/{request_id}")
def post_reject(
    request_id: str,
    caller: CallerDep,
    ctx: UserContext,
    rt: RuntimeDep,
    body: cmd.Respond | None = None,
) -> dict[str, Any]:
    return _on_request(rt, ctx, "Reject", request_id, caller.user_id, "reject")


@router.delete("/requests/{request_id}")
def delete_request(
    request_id: str, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    """The sender withdraws a pending request."""
    return _on_request(rt, ctx, "Cancel", request_id, caller.user_id, "cancel")


def _request_item(
    rt: Services,
    request: Request,
    row: dict[str, Any],
    partner_id: str,
    accounts: dict[str, Any],
    profiles: dict[str, Any],
    side: str,
) -> dict[str, Any]:
    account = accounts.get(partner_id, {})
    profile = profiles.get(partner_id, {})
    partner = {
        "userId": partner_id,
        "name": profile.get("english_name") or account.get("name"),
        "profileImageUrl": file_url(file_origin(request, rt.settings), profile.get("image_key")),
    }
    return {
        "id": row["request_id"],
        "requestId": row["request_id"],
        "status": row["status"],
        "message": row["message"],
        "createdAt": row["created_at"].isoformat(),
        "expiresAt": row["expires_at"].isoformat(),
        "respondedAt": row["responded_at"].isoformat() if row["responded_at"] else None,
        "partner": partner,
        side: partner,
        f"{side}Id": partner_id,
        f"{side}Name": partner["name"],
        f"{side}ProfileImage": partner["profileImageUrl"],
    }


def _requests(
    rt: Services,
    request: Request,
    user_id: str,
    direction: str,
    status: str | None,
    page: int,
    size: int,
) -> dict[str, Any]:
    page, size = _page(page, size)
    rows, total = rm.requests_of(
        rt.read_models, user_id, direction=direction, status=status, page=page, size=size
    )
    side, key = ("receiver", "receiver_id") if direction == "sent" else ("sender", "sender_id")
    ids = [r[key] for r in rows]
    accounts, profiles = get_accounts(rt.read_models, ids), get_profiles(rt.read_models, ids)
    items = [_request_item(rt, request, r, r[key], accounts, profiles, side) for r in rows]
    return _paged(items, page, size, total)


StatusFilter = Annotated[
    str | None, Query(pattern=r"^(?i)(pending|accepted|rejected|cancelled|expired)$")
]


@router.get("/requests/sent")
def get_sent(
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
    status: StatusFilter = None,
) -> dict[str, Any]:
    return _requests(rt, request, caller.user_id, "sent", status, page, size)


@router.get("/requests/received")
def get_received(
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
    status: StatusFilter = None,
) -> dict[str, Any]:
    return _requests(rt, request, caller.user_id, "received", status, page, size)


# -- matches ----------------------------------------------------------------------------
def _matches(
    rt: Services, request: Request, user_id: str, lang: ref.Lang, page: int, size: int
) -> tuple[list[dict[str, Any]], int, int, int]:
    page, size = _page(page, size)
    rows, total = rm.matches_of(rt.read_models, user_id, page=page, size=size)
    partners = [r["user_b"] if r["user_a"] == user_id else r["user_a"] for r in rows]
    accounts, profiles = (
        get_accounts(rt.read_models, partners),
        get_profiles(rt.read_models, partners),
    )
    me = LearnerProfile.from_row(get_profile(rt.read_models, user_id) or {"user_id": user_id})
    items = []
    for row, partner_id in zip(rows, partners, strict=True):
        profile = profiles.get(partner_id, {"user_id": partner_id})
        account = accounts.get(partner_id, {})
        card = partner_card(
            rt,
            request,
            profile,
            {"name": account.get("name")},
            compatibility(me, LearnerProfile.from_row(profile)),
            lang,
        )
        items.append(
            {
                **card,
                "matchId": row["match_id"],
                "id": row["match_id"],
                "partnerId": partner_id,
                "partnerUserId": partner_id,
                "partnerName": card["englishName"],
                "partnerProfileImageUrl": card["profileImageUrl"],
                "bio": card["selfBio"],
                "matchedAt": row["matched_at"].isoformat(),
                "favoriteTopics": card["interests"],
                "commonInterests": card["interests"],
                "totalSessionsCompleted": 0,
            }
        )
    return items, total, page, size


@router.get("/matches")
def get_matches(
    caller: CallerDep,
    rt: RuntimeDep,
    request: Request,
    lang: UserLang,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: int = 20,
) -> dict[str, Any]:
    items, total, page, size = _matches(rt, request, caller.user_id, lang, page, size)
    return _paged(items, page, size, total)


@router.get("/my-matches")
def get_my_matches(
    caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    items, total, _, _ = _matches(rt, request, caller.user_id, lang, 1, 50)
    return ok({"matches": items, "total": total})


@router.delete("/matches/{match_id}")
def delete_match(
    match_id: str, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    row = rm.match_row(rt.read_models, match_id)
    if row is None or caller.user_id not in (row["user_a"], row["user_b"]):
        raise ApiError(404, "no such match", "MATCH_NOT_FOUND")
    pair = UUID(row["pair_id"])

    def action(aggregate: MatchPair, cause: Any) -> None:
        aggregate.dissolve(cause, match_id=match_id, by_user_id=caller.user_id)

    _wait(rt, cmd.on_pair(rt.bus, ctx, "Dissolve", pair, action), pair)
    return ok({"matchId": match_id, "dissolved": True})


@router.post("/feedback")
def post_feedback(
    body: cmd.Feedback, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    row = rm.match_row(rt.read_models, str(body.match_id))
    members = (row["user_a"], row["user_b"]) if row else ()
    if row is None or caller.user_id not in members or str(body.partner_id) not in members:
        raise ApiError(404, "no such match", "MATCH_NOT_FOUND")

    def action(aggregate: MatchPair, cause: Any) -> None:
        aggregate.give_feedback(
            cause,
            match_id=str(body.match_id),
            reviewer_id=caller.user_id,
            rating=body.overall_rating,
            comment=body.written_feedback,
            would_match_again=body.would_match_again,
        )

    cmd.on_pair(rt.bus, ctx, "Feedback", UUID(row["pair_id"]), action)
    return ok({"saved": True})


# -- blocks and reports -----------------------------------------------------------------
def _set_block(
    rt: Services, ctx: CommandContext, blocker: str, blocked: UUID, on: bool
) -> dict[str, Any]:
    outcome = cmd.set_block(rt.bus, ctx, blocker_id=blocker, blocked_id=str(blocked), on=on)
    _wait(rt, outcome, pair_id(blocker, str(blocked)))
    return ok({"blocked": on})


@router.post("/block/{user_id}")
def post_block(
    user_id: UUID, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _set_block(rt, ctx, caller.user_id, user_id, on=True)


@router.delete("/block/{user_id}")
def delete_block(
    user_id: UUID, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    return _set_block(rt, ctx, caller.user_id, user_id, on=False)


@router.post("/report/{user_id}")
def post_report(
    user_id: UUID, body: cmd.Report, caller: CallerDep, ctx: UserContext, rt: RuntimeDep
) -> dict[str, Any]:
    cmd.report(rt.bus, ctx, reporter_id=caller.user_id, reported_id=str(user_id), command=body)
    return ok({"reported": True})


# -- advanced ranking -------------------------------------------------------------------
class BestMatches(BaseModel):
    """``POST /matching/ai/best-matches``: the SPA's weights; missing ones use these."""

    model_config = ConfigDict(extra="ignore")

    languageWeight: float = Field(default=0.25, ge=0, le=1)  # noqa: N815
    levelWeight: float = Field(default=0.15, ge=0, le=1)  # noqa: N815
    semanticWeight: float = Field(default=0.15, ge=0, le=1)  # noqa: N815
    scheduleWeight: float = Field(default=0.15, ge=0, le=1)  # noqa: N815
    goalsWeight: float = Field(default=0.10, ge=0, le=1)  # noqa: N815
    personalityWeight: float = Field(default=0.10, ge=0, le=1)  # noqa: N815
    topicsWeight: float = Field(default=0.10, ge=0, le=1)  # noqa: N815
    limit: int = Field(default=5, ge=1, le=50)


def advanced_scores(
    me: LearnerProfile,
    partner: LearnerProfile,
    vectors: tuple[Sequence[float] | None, Sequence[float] | None],
) -> dict[str, float | None]:
    """The factors of the advanced ranking, each 0..100.

    ``semanticSimilarity`` is ``None`` while either profile embedding is still being
    computed; the weighted sum then renormalises over the factors that exist, rather than
    inventing a neutral value.
    """
    base = compatibility(me, partner)
    return {
        "languageCompatibility": base.category_scores["language"],
        "levelCompatibility": level_fit(me, partner),
        "semanticSimilarity": semantic_similarity(*vectors),
        "scheduleCompatibility": availability_overlap(me, partner),
        "goalAlignment": base.category_scores["goals"],
        "personalityMatch": base.category_scores["personality"],
        "topicOverlap": base.category_scores["interests"],
    }


WEIGHT_OF = {
    "languageCompatibility": "languageWeight",
    "levelCompatibility": "levelWeight",
    "semanticSimilarity": "semanticWeight",
    "scheduleCompatibility": "scheduleWeight",
    "goalAlignment": "goalsWeight",
    "personalityMatch": "personalityWeight",
    "topicOverlap": "topicsWeight",
}


def weighted(scores: dict[str, float | None], weights: BestMatches) -> float:
    factors = weights.model_dump()
    present = {k: (v, float(factors[WEIGHT_OF[k]])) for k, v in scores.items() if v is not None}
    total = sum(w for _, w in present.values())
    if total <= 0:
        return 0.0
    return round(sum(v * w for v, w in present.values()) / total, 1)


@router.post("/ai/best-matches")
def post_best_matches(
    body: BestMatches, caller: CallerDep, rt: RuntimeDep, request: Request, lang: UserLang
) -> dict[str, Any]:
    """The advanced ranking: the rule-based categories plus real weekly availability overlap
    across time zones and CEFR level fit, each explained; drawn from the same candidate
    index as the search."""
    me = LearnerProfile.from_row(
        get_profile(rt.read_models, caller.user_id) or {"user_id": caller.user_id}
    )
    ids, _ = rm.search_candidates(
        rt.read_models,
        caller.user_id,
        rm.CandidateFilter(),
        exchange_with=(me.native_language_id, [t.language_id for t in me.targets]),
        limit=SEARCH_POOL,
    )
    rows, accounts = get_profiles(rt.read_models, ids), get_accounts(rt.read_models, ids)
    vectors = rm.embeddings_of(rt.read_models, [caller.user_id, *ids])
    mine = vectors.get(caller.user_id)
    ranked = []
    for candidate_id in ids:
        if candidate_id not in accounts:
            continue
        partner = LearnerProfile.from_row(rows.get(candidate_id, {"user_id": candidate_id}))
        scores = advanced_scores(me, partner, (mine, vectors.get(candidate_id)))
        ranked.append((weighted(scores, body), candidate_id, scores, compatibility(me, partner)))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    matches: list[dict[str, Any]] = []
    complete = True
    for overall, candidate_id, scores, base in ranked[: body.limit]:
        complete = complete and scores["semanticSimilarity"] is not None
        row = rows.get(candidate_id, {"user_id": candidate_id})
        card = partner_card(rt, request, row, accounts[candidate_id], base, lang)
        topics = [
            ref.label(t, lang) for t in (ref.topic(i) for i in base.shared.shared_topics) if t
        ]
        matches.append(
            {
                "partner": {
                    "id": candidate_id,
                    "name": card["englishName"],
                    "profileImage": card["profileImageUrl"],
                    "nativeLanguage": card["nativeLanguage"],
                    "targetLanguages": card["targetLanguages"],
                },
                "scores": scores,
                "overallScore": overall,
                "matchReason": base.recommendation(lang),
                "explanations": dict(base.explain(lang)) | explain_factors(scores, lang),
                "conversationStarters": topics[:5],
            }
        )
    message = (
        "ranked by all factors"
        if complete
        else "semantic similarity is not computed for every profile yet; "
        "weights were renormalised over the other factors where it is missing"
    )
    return ok({"matches": matches, "message": message})
