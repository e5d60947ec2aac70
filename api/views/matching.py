"""Matching views: a partner as the search, match and ranking pages show them, a match
request as the request lists show it, and the pages these come in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.envelope import ok
from api.views.files import file_url
from domain import reference as ref
from domain.compatibility import compatibility_level, explain_factors
from domain.ranking import BestMatch
from projections.identity import AccountRow
from projections.matching import MatchRequestRow, MatchRow
from projections.profiles import ProfileRow

Presence = dict[str, str | None]
"""One user's ``status`` and ``lastSeen`` (``infra.presence.Presence.of``)."""


def page_bounds(page: int, size: int, limit: int = 50) -> tuple[int, int]:
    """The SPA sends page=0 in places; pages are 1-based here (contract 3.4)."""
    return max(page, 1), min(max(size, 1), limit)


def paged(items: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
    pages = (total + size - 1) // size if size else 0
    return ok(
        items, meta={"page": page, "limit": size, "size": size, "total": total, "totalPages": pages}
    )


def _targets(row: ProfileRow, lang: ref.Lang) -> list[dict[str, Any]]:
    targets = []
    for target in row["target_languages"] or []:
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
    return targets


def partner_card(
    origin: str,
    row: ProfileRow,
    name: str | None,
    score: float,
    lang: ref.Lang,
    presence: Presence,
) -> dict[str, Any]:
    """A partner from their profile row and account ``name``, with the caller's overall
    compatibility ``score``."""
    location = ref.location(row["location_id"]) if row["location_id"] else None
    native = ref.language(row["native_language_id"]) if row["native_language_id"] else None
    topics = [ref.label(t, lang) for t in (ref.topic(i) for i in row["topics"] or []) if t]
    personalities = [
        ref.label(p, lang)
        for p in (ref.partner_personality(i) for i in row["partner_personalities"] or [])
        if p
    ]
    year = int(row["birth_year"]) if row["birth_year"] else None
    return {
        "userId": row["user_id"],
        "id": row["user_id"],
        "englishName": row["english_name"] or name,
        "name": name,
        "profileImageUrl": file_url(origin, row["image_key"]),
        "selfBio": row["bio"] or "",
        "age": datetime.now(UTC).year - year if year else None,
        "gender": row["gender"],
        "location": f"{location.country.get(lang)}, {location.city.get(lang)}"
        if location
        else None,
        "timeZone": location.timezone if location else None,
        "nativeLanguage": ref.label(native, lang) if native else None,
        "targetLanguages": _targets(row, lang),
        "interests": topics,
        "partnerPersonalities": personalities,
        "compatibilityScore": score,
        "compatibilityLevel": compatibility_level(score),
        "onlineStatus": presence["status"],
        "lastActiveTime": presence["lastSeen"],
    }


def match_item(card: dict[str, Any], row: MatchRow, partner_id: str) -> dict[str, Any]:
    """A match of the match list: the partner's card and the names the pages read."""
    return {
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


def best_match_item(card: dict[str, Any], match: BestMatch, lang: ref.Lang) -> dict[str, Any]:
    """One result of the advanced ranking, every factor explained."""
    base = match.base
    topics = [ref.label(t, lang) for t in (ref.topic(i) for i in base.shared.shared_topics) if t]
    return {
        "partner": {
            "id": match.partner.user_id,
            "name": card["englishName"],
            "profileImage": card["profileImageUrl"],
            "nativeLanguage": card["nativeLanguage"],
            "targetLanguages": card["targetLanguages"],
        },
        "scores": match.scores,
        "overallScore": match.overall,
        "matchReason": base.recommendation(lang),
        "explanations": dict(base.explain(lang)) | explain_factors(match.scores, lang),
        "conversationStarters": topics[:5],
    }


def request_item(
    origin: str,
    row: MatchRequestRow,
    partner_id: str,
    account: AccountRow | None,
    profile: ProfileRow | None,
    side: str,
) -> dict[str, Any]:
    """A request of the sent (``side`` receiver) or received (``side`` sender) list; the
    partner's account or profile is None once deleted (or before their first save)."""
    english, image = (profile["english_name"], profile["image_key"]) if profile else (None, None)
    partner = {
        "userId": partner_id,
        "name": english or (account["name"] if account else None),
        "profileImageUrl": file_url(origin, image),
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
