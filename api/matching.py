"""Finding partners (spa-contract 4.5): the partner search, one partner's compatibility,
and the advanced ranking. Requests, matches, blocks and reports are in ``api/matches.py``;
the orders themselves are ``domain.ranking``'s.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import MAX_PAGE, CallerDep, OriginDep, PresenceDep, ReadModelsDep
from api.envelope import ok
from api.errors import ApiError
from api.i18n import UserLang
from api.schemas import matching as body
from api.views.matching import best_match_item, page_bounds, paged, partner_card
from domain import reference as ref
from domain.compatibility import LearnerProfile, compatibility
from domain.ranking import best_matches, search_order
from eventflow.readmodels import ReadModels
from infra.presence import Presence
from projections import matching as rm
from projections import partner_search
from projections.identity import get_accounts
from projections.profiles import blank_profile, get_profile, get_profiles

router = APIRouter(prefix="/api/v1/matching", tags=["matching"])
SEARCH_POOL = 100
"""Candidates are scored in tiers of this many, in index order (exchange partners first,
then the most recently active); each tier is ranked by presence and score, and a deeper page
scores the tiers it reaches. Tiers keep pages consistent: every page is a slice of one
order, and page 1 costs the same however large the result."""
MAX_RESULTS = 10_000
"""How deep search pages go (page x size); a narrower filter finds anyone further down."""


def _me(read_models: ReadModels, user_id: str) -> LearnerProfile:
    return LearnerProfile.from_row(get_profile(read_models, user_id) or blank_profile(user_id))


def _candidates(
    read_models: ReadModels, me: LearnerProfile, wanted: partner_search.CandidateFilter, limit: int
) -> tuple[list[str], int]:
    """Ids from the candidate index (exchange partners first) and how many match."""
    exchange = (me.native_language_id, [t.language_id for t in me.targets])
    return partner_search.search_candidates(read_models, me.user_id, wanted, exchange_with=exchange,
                                limit=limit)  # fmt: skip


def search(
    read_models: ReadModels,
    presence: Presence,
    origin: str,
    user_id: str,
    lang: ref.Lang,
    wanted: partner_search.CandidateFilter,
    *,
    page: int,
    size: int,
    interests: list[int] | None = None,
    online_only: bool = False,
) -> dict[str, Any]:
    """Filter on the candidate index, score the tiers the page reaches, render the page."""
    if page * size > MAX_RESULTS:
        raise ApiError(
            422, f"results go {MAX_RESULTS} deep; narrow the filters", "VALIDATION_ERROR"
        )
    me = _me(read_models, user_id)
    ids, total = _candidates(read_models, me, wanted, -(-page * size // SEARCH_POOL) * SEARCH_POOL)
    found = get_profiles(read_models, ids)
    rows = {i: found.get(i) or blank_profile(i) for i in ids}
    seen = presence.of(ids, time.time())
    online = {i for i in ids if seen[i]["status"] == "ONLINE"}
    ranked = search_order(me, [LearnerProfile.from_row(rows[i]) for i in ids], online,
                          pool=SEARCH_POOL, interests=interests or (),
                          online_only=online_only)  # fmt: skip
    if interests or online_only:
        total = len(ranked)
    window = [r.partner.user_id for r in ranked[(page - 1) * size : page * size]]
    scores = {r.partner.user_id: r.score for r in ranked}
    # Accounts only for the page shown (the index already holds active accounts only; one
    # deleted since is left out rather than shown without a name).
    accounts = get_accounts(read_models, window)
    cards = [partner_card(origin, rows[i], accounts[i]["name"], scores[i], lang, seen[i])
             for i in window if i in accounts]  # fmt: skip
    return paged(cards, page, size, total)


@router.get("/partners")
def get_partners(
    caller: CallerDep,
    read_models: ReadModelsDep,
    presence: PresenceDep,
    origin: OriginDep,
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
    page, size = page_bounds(page, size)
    wanted = partner_search.CandidateFilter(
        native_language_id=body.language_id(nativeLanguage),
        target_language_id=body.language_id(targetLanguage),
        level_ids=body.level_ids(languageLevel),
        birth_year_range=body.age_range(minAge, maxAge),
        gender=gender.upper() if gender else None,
        location_ids=body.location_ids(location, timeZone),
    )
    return search(read_models, presence, origin, caller.user_id, lang, wanted, page=page,
                  size=size, interests=interests, online_only=onlineOnly)  # fmt: skip


@router.post("/partners/advanced")
def post_partners_advanced(
    search_body: body.AdvancedSearch,
    caller: CallerDep,
    read_models: ReadModelsDep,
    presence: PresenceDep,
    origin: OriginDep,
    lang: UserLang,
    page: Annotated[int, Query(le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(le=100)] = 20,
) -> dict[str, Any]:
    page, size = page_bounds(page, size)
    return search(read_models, presence, origin, caller.user_id, lang,
                  search_body.candidate_filter(), page=page, size=size,
                  interests=search_body.interests,
                  online_only=search_body.online_only)  # fmt: skip


@router.get("/compatibility/{partner_id}")
def get_compatibility(
    partner_id: UUID, caller: CallerDep, read_models: ReadModelsDep, lang: UserLang
) -> dict[str, Any]:
    partner_row = get_profile(read_models, str(partner_id))
    if partner_row is None or str(partner_id) == caller.user_id:
        raise ApiError(404, "user not found", "USER_NOT_FOUND")
    me = _me(read_models, caller.user_id)
    return ok(compatibility(me, LearnerProfile.from_row(partner_row)).as_response(lang))


@router.post("/ai/best-matches")
def post_best_matches(
    weights: body.BestMatches,
    caller: CallerDep,
    read_models: ReadModelsDep,
    presence: PresenceDep,
    origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:
    """The advanced ranking: the rule-based categories plus real weekly availability overlap
    across time zones and CEFR level fit, each explained; drawn from the same candidate
    index as the search."""
    me = _me(read_models, caller.user_id)
    found, _ = _candidates(read_models, me, partner_search.CandidateFilter(), SEARCH_POOL)
    accounts = get_accounts(read_models, found)
    ids = [i for i in found if i in accounts]
    profiles = get_profiles(read_models, ids)
    rows = {i: profiles.get(i) or blank_profile(i) for i in ids}
    vectors = rm.embeddings_of(read_models, [caller.user_id, *ids])
    ranked = best_matches(me, [LearnerProfile.from_row(rows[i]) for i in ids], vectors,
                          weights.weights(), weights.limit)  # fmt: skip
    shown = [m.partner.user_id for m in ranked]
    seen = presence.of(shown, time.time())
    matches = []
    for match in ranked:
        i = match.partner.user_id
        card = partner_card(origin, rows[i], accounts[i]["name"], match.base.overall, lang, seen[i])
        matches.append(best_match_item(card, match, lang))
    complete = all(m.scores["semanticSimilarity"] is not None for m in ranked)
    message = (
        "ranked by all factors"
        if complete
        else "semantic similarity is not computed for every profile yet; "
        "weights were renormalised over the other factors where it is missing"
    )
    return ok({"matches": matches, "message": message})
