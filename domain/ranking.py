"""Ranking partners: the order of the partner search and of the advanced ranking
(best matches), as pure functions of learner profiles, so the order can be unit-tested by
hand and the routers only fetch candidates and render them.

Both rankings draw from the candidate index (``projections.partner_search.search_candidates``),
which already filtered and ordered the candidates (exchange partners first, then the most
recently active); what is decided here is how scores reorder them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from domain.compatibility import (
    Compatibility,
    LearnerProfile,
    availability_overlap,
    compatibility,
    level_fit,
    semantic_similarity,
)

FACTORS = (
    "languageCompatibility",
    "levelCompatibility",
    "semanticSimilarity",
    "scheduleCompatibility",
    "goalAlignment",
    "personalityMatch",
    "topicOverlap",
)
"""The factors of the advanced ranking, each 0..100, named as the SPA shows them."""
Scores = dict[str, float | None]


SCORE_CACHE_PAIRS = 10_000
"""Pairs of profiles whose overall score a process remembers: about 1.3 kB each (the cache
entry and the partner profile its key keeps alive), some 13 MB per API process at most."""


@lru_cache(maxsize=SCORE_CACHE_PAIRS)
def overall_score(me: LearnerProfile, partner: LearnerProfile) -> float:
    """``compatibility(me, partner).overall``, remembered per pair of profiles.

    A search page scores a tier of up to 100 candidates, and the next page, a refresh or a
    changed filter scores the same tiers again; one score is some 60 us of exact arithmetic
    and explanation text that the search does not show. Profiles are immutable values, so an
    edited profile is a new key: a remembered score is never stale."""
    return compatibility(me, partner).overall


@dataclass(frozen=True)
class Ranked:
    partner: LearnerProfile
    score: float
    """The overall compatibility score (0..100)."""


def search_order(
    me: LearnerProfile,
    candidates: Sequence[LearnerProfile],
    online: Collection[str],
    *,
    pool: int,
    interests: Collection[int] = (),
    online_only: bool = False,
) -> list[Ranked]:
    """The partner search's order of ``candidates`` (given in index order): in tiers of
    ``pool`` candidates, and within a tier the ones ``online`` first, then by compatibility
    score, then by id (a total order, so pages never overlap).

    Tiers keep every page a slice of one order however deep it goes: a deeper page scores
    more tiers but never reorders an earlier one. ``interests`` keeps the candidates sharing
    at least one of those topics; ``online_only`` the ones online."""
    wanted = set(interests)
    keyed = []
    for index, partner in enumerate(candidates):
        if wanted and not wanted.intersection(partner.topics):
            continue
        is_online = partner.user_id in online
        if online_only and not is_online:
            continue
        score = overall_score(me, partner)
        key = (index // pool, not is_online, -score, partner.user_id)
        keyed.append((key, Ranked(partner, score)))
    keyed.sort(key=lambda item: item[0])
    return [ranked for _, ranked in keyed]


def advanced_scores(
    me: LearnerProfile,
    partner: LearnerProfile,
    vectors: tuple[Sequence[float] | None, Sequence[float] | None],
    base: Compatibility | None = None,
) -> Scores:
    """The factors of the advanced ranking (:data:`FACTORS`), each 0..100; ``base`` is
    ``compatibility(me, partner)`` when the caller has it already.

    ``semanticSimilarity`` is ``None`` while either profile embedding is still being
    computed; :func:`weighted` then renormalises over the factors that exist, rather than
    inventing a neutral value."""
    base = base or compatibility(me, partner)
    return {
        "languageCompatibility": base.category_scores["language"],
        "levelCompatibility": level_fit(me, partner),
        "semanticSimilarity": semantic_similarity(*vectors),
        "scheduleCompatibility": availability_overlap(me, partner),
        "goalAlignment": base.category_scores["goals"],
        "personalityMatch": base.category_scores["personality"],
        "topicOverlap": base.category_scores["interests"],
    }


def weighted(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """The weighted mean of the factors that have a score (0.1); 0 when no weight is left."""
    present = [(value, float(weights[factor])) for factor, value in scores.items()
               if value is not None]  # fmt: skip
    total = sum(weight for _, weight in present)
    if total <= 0:
        return 0.0
    return round(sum(value * weight for value, weight in present) / total, 1)


@dataclass(frozen=True)
class BestMatch:
    partner: LearnerProfile
    overall: float
    """The weighted score the ranking is by."""
    scores: Scores
    base: Compatibility
    """The rule-based score (its explanations and recommendation go with the match)."""


def best_matches(
    me: LearnerProfile,
    candidates: Sequence[LearnerProfile],
    vectors: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    limit: int,
) -> list[BestMatch]:
    """The ``limit`` best of ``candidates`` by the weighted factors (ties by id); ``vectors``
    are the profile embeddings known so far, by user id."""
    mine = vectors.get(me.user_id)
    ranked = []
    for partner in candidates:
        base = compatibility(me, partner)
        scores = advanced_scores(me, partner, (mine, vectors.get(partner.user_id)), base)
        ranked.append(BestMatch(partner, weighted(scores, weights), scores, base))
    ranked.sort(key=lambda match: (-match.overall, match.partner.user_id))
    return ranked[:limit]
