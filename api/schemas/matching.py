"""Matching bodies and search parameters (spa-contract 4.5): what the SPA sends, and its
search words (a language code or id, a CEFR band, a country code) translated into the
candidate index's filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from api.deps import Int64
from api.errors import ApiError
from api.schemas.base import Body
from domain import reference as ref
from projections.partner_search import CandidateFilter


class MatchRequest(Body):
    target_user_id: UUID
    message: str = Field(default="", max_length=500)


class Respond(Body):
    response_message: str = Field(default="", max_length=500)


class Feedback(Body):
    partner_id: UUID
    match_id: UUID
    overall_rating: int = Field(ge=1, le=5)
    written_feedback: str = Field(default="", max_length=1000)
    would_match_again: bool | None = None


class Report(Body):
    reason: str = Field(min_length=1, max_length=50)
    details: str = Field(default="", max_length=1000)


class Search(BaseModel):
    """Search bodies ignore what they do not know (the SPA sends its whole filter form)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel)


Age = Annotated[int, Field(ge=0, le=120)]


class AdvancedSearch(Search):
    query: str | None = Field(default=None, max_length=100)
    # Bounded like the GET search's minAge/maxAge: numbers past 64 bits reached SQLite
    # (OverflowError, a 500).
    age_range: list[Age] | None = Field(default=None, min_length=2, max_length=2)
    gender: str | None = None
    target_language: str | Int64 | None = None
    native_language: str | Int64 | None = None
    proficiency_level: str | None = None
    interests: list[int] | None = None
    online_only: bool = False
    location: str | None = Field(default=None, max_length=40)
    time_zone: str | None = Field(default=None, max_length=60)

    def candidate_filter(self) -> CandidateFilter:
        ages = age_range(self.age_range[0], self.age_range[1]) if self.age_range else None
        gender = self.gender.upper() if self.gender else None
        return CandidateFilter(
            native_language_id=language_id(self.native_language),
            target_language_id=language_id(self.target_language),
            level_ids=level_ids(self.proficiency_level),
            birth_year_range=ages,
            gender=gender if gender not in ("ANY", "ALL") else None,
            location_ids=location_ids(self.location, self.time_zone),
        )


class BestMatches(Search):
    """``POST /matching/ai/best-matches``: the SPA's weights; missing ones use these."""

    language_weight: float = Field(default=0.25, ge=0, le=1)
    level_weight: float = Field(default=0.15, ge=0, le=1)
    semantic_weight: float = Field(default=0.15, ge=0, le=1)
    schedule_weight: float = Field(default=0.15, ge=0, le=1)
    goals_weight: float = Field(default=0.10, ge=0, le=1)
    personality_weight: float = Field(default=0.10, ge=0, le=1)
    topics_weight: float = Field(default=0.10, ge=0, le=1)
    limit: int = Field(default=5, ge=1, le=50)

    def weights(self) -> dict[str, float]:
        """By factor of ``domain.ranking.FACTORS``."""
        return {
            "languageCompatibility": self.language_weight,
            "levelCompatibility": self.level_weight,
            "semanticSimilarity": self.semantic_weight,
            "scheduleCompatibility": self.schedule_weight,
            "goalAlignment": self.goals_weight,
            "personalityMatch": self.personality_weight,
            "topicOverlap": self.topics_weight,
        }


def age_range(min_age: int | None, max_age: int | None) -> tuple[int, int] | None:
    """Ages as the birth years the index holds (``None``: any age)."""
    if min_age is None and max_age is None:
        return None
    year = datetime.now(UTC).year
    youngest, oldest = min_age or 0, max_age or 120
    if youngest > oldest:
        raise ApiError(422, "minAge must not exceed maxAge", "VALIDATION_ERROR")
    return year - oldest, year - youngest


def level_ids(level: str | None) -> tuple[int, ...]:
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


def location_ids(location: str | None, time_zone: str | None) -> tuple[int, ...] | None:
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


def language_id(value: str | int | None) -> int | None:
    """A language id, or the id of a language code (``ko``)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    language = ref.language_by_code(str(value).lower())
    if language is None:
        raise ApiError(422, f"unknown language {value!r}", "VALIDATION_ERROR")
    return language.id
