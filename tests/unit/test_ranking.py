"""The orders of the partner search and the advanced ranking (domain/ranking.py), on
profiles built by hand (languages 1 ko, 2 en; level 102 = B1)."""

from __future__ import annotations

from dataclasses import replace

from domain.compatibility import LearnerProfile, Target, compatibility
from domain.ranking import (
    FACTORS,
    advanced_scores,
    best_matches,
    overall_score,
    search_order,
    weighted,
)

KO, EN, B1 = 1, 2, 102
ME = LearnerProfile("me", native_language_id=KO, targets=(Target(EN, B1, B1),), topics=(7,))
GOOD = LearnerProfile("good", native_language_id=EN, targets=(Target(KO, B1, B1),), topics=(7,))
"""An exchange partner: learns my language, speaks the one I learn, shares my topic."""


def plain(user_id: str) -> LearnerProfile:
    return LearnerProfile(user_id)


def order(
    candidates: list[LearnerProfile], online: frozenset[str] = frozenset(), *, pool: int = 100,
    interests: tuple[int, ...] = (), online_only: bool = False,
) -> list[str]:  # fmt: skip
    ranked = search_order(ME, candidates, online, pool=pool, interests=interests,
                          online_only=online_only)  # fmt: skip
    return [r.partner.user_id for r in ranked]


def test_the_exchange_partner_scores_higher_than_a_stranger() -> None:
    assert compatibility(ME, GOOD).overall > compatibility(ME, plain("x")).overall


def test_a_score_is_remembered_but_never_that_of_a_profile_since_edited() -> None:
    first = overall_score(ME, GOOD)
    assert first == compatibility(ME, GOOD).overall
    hits = overall_score.cache_info().hits
    assert overall_score(ME, replace(GOOD)) == first  # an equal profile, as a new request reads
    assert overall_score.cache_info().hits == hits + 1
    edited = replace(GOOD, topics=(8,))  # the shared topic is gone: a lower score
    assert overall_score(ME, edited) == compatibility(ME, edited).overall < first


def test_within_a_tier_a_higher_score_goes_first_and_ties_go_by_id() -> None:
    assert order([plain("b"), GOOD, plain("a")]) == ["good", "a", "b"]


def test_online_candidates_go_first_within_a_tier_whatever_their_score() -> None:
    assert order([GOOD, plain("a")], online=frozenset({"a"})) == ["a", "good"]


def test_a_later_tier_never_moves_ahead_of_an_earlier_one() -> None:
    # Tiers of two: the exchange partner is third in index order, so in the second tier.
    assert order([plain("b"), plain("a"), GOOD], pool=2) == ["a", "b", "good"]


def test_interests_and_online_only_keep_only_the_matching_candidates() -> None:
    assert order([plain("a"), GOOD], interests=(7,)) == ["good"]
    assert order([plain("a"), GOOD], online=frozenset({"a"}), online_only=True) == ["a"]


def test_semantic_similarity_is_missing_until_both_vectors_exist() -> None:
    assert advanced_scores(ME, GOOD, (None, [1.0, 0.0]))["semanticSimilarity"] is None
    scores = advanced_scores(ME, GOOD, ([1.0, 0.0], [1.0, 0.0]))
    assert scores["semanticSimilarity"] == 100.0
    assert list(scores) == list(FACTORS)


def test_the_weighted_score_renormalises_over_the_factors_present() -> None:
    weights = dict.fromkeys(FACTORS, 0.0) | {
        "languageCompatibility": 0.5, "semanticSimilarity": 0.3, "topicOverlap": 0.25,
    }  # fmt: skip
    scores = dict.fromkeys(FACTORS, 0.0) | {
        "languageCompatibility": 80.0, "semanticSimilarity": None, "topicOverlap": 40.0,
    }  # fmt: skip
    assert weighted(scores, weights) == 66.7  # (80·0.5 + 40·0.25) / 0.75
    assert weighted(scores, dict.fromkeys(FACTORS, 0.0)) == 0.0


def test_best_matches_are_ordered_by_the_weighted_score_and_cut_at_the_limit() -> None:
    language_only = dict.fromkeys(FACTORS, 0.0) | {"languageCompatibility": 1.0}
    candidates = [plain("b"), GOOD, plain("a")]

    ranked = best_matches(ME, candidates, {}, language_only, limit=2)

    assert [m.partner.user_id for m in ranked] == ["good", "a"]
    first = ranked[0]
    assert first.overall == first.scores["languageCompatibility"]
    assert first.base == compatibility(ME, GOOD)
