"""Rule-based compatibility (domain/compatibility.py): every expected number is computed by hand
in the comment next to it, from the reference ids (languages 1 ko, 2 en, 3 ja; levels 100-106 =
orders 1-7 = A1 A2 B1 B2 C1 C2 C2; learning styles 1 LISTENING, 2 SPEAKING, 3 BALANCED)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import pytest

from domain.compatibility import (
    CATEGORIES,
    Compatibility,
    LearnerProfile,
    SharedInsights,
    Target,
    availability_overlap,
    compatibility,
    compatibility_level,
    cosine,
    dice,
    level_fit,
)
from domain.reference import Label

KO, EN, JA, ZH = 1, 2, 3, 4
A1, A2, B1, B2, C1, C2, NEAR_NATIVE = 100, 101, 102, 103, 104, 105, 106
LISTENING, SPEAKING, BALANCED = 1, 2, 3
SEOUL, NEW_YORK, SYDNEY = "Asia/Seoul", "America/New_York", "Australia/Sydney"


def learner(user_id: str = "u", **fields: Any) -> LearnerProfile:
    return LearnerProfile(user_id=user_id, **fields)


def scores(me: LearnerProfile, partner: LearnerProfile) -> dict[str, float]:
    result = compatibility(me, partner)
    return {c: result.category_scores[c] for c in CATEGORIES}


def language(me: LearnerProfile, partner: LearnerProfile) -> float:
    return compatibility(me, partner).category_scores["language"]


def personality(me: LearnerProfile, partner: LearnerProfile) -> float:
    return compatibility(me, partner).category_scores["personality"]


def goals(me: LearnerProfile, partner: LearnerProfile) -> float:
    return compatibility(me, partner).category_scores["goals"]


def interests(me: LearnerProfile, partner: LearnerProfile) -> float:
    return compatibility(me, partner).category_scores["interests"]


# A Korean learning English and an American learning Korean: the canonical exchange pair.
MINJI = learner(
    "minji",
    native_language_id=KO,
    targets=(Target(EN, B1, C1),),
    topics=(1, 2, 3),
    motivations=(1, 2),
    wanted_personalities=(1, 2),
    learning_styles=(LISTENING,),
    communication_method="VOICE",
    schedules=(("MONDAY", "21:00"),),
    timezone=SEOUL,
)
JOHN = learner(
    "john",
    native_language_id=EN,
    targets=(Target(KO, A1, B2),),
    topics=(2, 3, 4),
    motivations=(2, 3),
    wanted_personalities=(2, 5),
    learning_styles=(SPEAKING,),
    communication_method="VIDEO",
    schedules=(("MONDAY", "07:00"),),
    timezone=NEW_YORK,
)


# --------------------------------------------------------------------------- language


def test_language_both_exchange_directions() -> None:
    # John learns Minji's native (+40), Minji learns John's native (+40) -> 80
    assert language(MINJI, JOHN) == 80.0
    assert compatibility(MINJI, JOHN).shared.mutual_exchange_languages == (KO, EN)


def test_language_one_direction_only() -> None:
    yuki = learner(native_language_id=JA, targets=(Target(KO, A1, B1),))
    # Yuki learns Minji's native Korean (+40); Minji does not learn Japanese -> 40
    assert language(MINJI, yuki) == 40.0
    # seen from Yuki: "I learn the partner's native language" (+40) -> 40, symmetric
    assert language(yuki, MINJI) == 40.0
    assert compatibility(MINJI, yuki).shared.mutual_exchange_languages == (KO,)


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        (B1, B2, 27.0),  # orders 3 vs 4, gap 1 -> bonus 12; 15 + 12 = 27
        (B1, B1, 27.0),  # gap 0 -> 12; 15 + 12 = 27
        (B1, C1, 23.0),  # orders 3 vs 5, gap 2 -> 8; 15 + 8 = 23
        (A1, C1, 20.0),  # orders 1 vs 5, gap 4 -> 5; 15 + 5 = 20
    ],
)
def test_language_shared_target_with_level_closeness(
    mine: int, theirs: int, expected: float
) -> None:
    me = learner(native_language_id=KO, targets=(Target(EN, mine, C2),))
    partner = learner(native_language_id=JA, targets=(Target(EN, theirs, C2),))

    assert language(me, partner) == expected
    assert compatibility(me, partner).shared.shared_target_languages == (EN,)


def test_level_closeness_compares_current_levels_not_targets() -> None:
    me = learner(native_language_id=KO, targets=(Target(EN, A1, C1),))
    partner = learner(native_language_id=JA, targets=(Target(EN, A1, A2),))
    # current A1 vs A1: gap 0 -> 12; 15 + 12 = 27 (the original, preferring the target levels
    # C1 vs A2 = orders 5 vs 2, gap 3, gave 15 + 5 = 20)
    assert language(me, partner) == 27.0


def test_level_closeness_unknown_level_gets_the_small_bonus() -> None:
    me = learner(native_language_id=KO, targets=(Target(EN),))
    partner = learner(native_language_id=JA, targets=(Target(EN, B1, B2),))
    # my level unknown -> bonus 5; 15 + 5 = 20
    assert language(me, partner) == 20.0


def test_language_bonus_is_the_mean_over_shared_languages() -> None:
    me = learner(native_language_id=KO, targets=(Target(EN, B1, C1), Target(ZH, A1, B1)))
    partner = learner(native_language_id=JA, targets=(Target(EN, B2, C1), Target(ZH, C1, C2)))
    # en: orders 3 vs 4 -> 12; zh: orders 1 vs 5 -> 5; mean 8.5; 15 + 8.5 = 23.5
    assert language(me, partner) == 23.5
    assert compatibility(me, partner).shared.shared_target_languages == (EN, ZH)


def test_language_is_capped_at_100() -> None:
    me = learner(native_language_id=KO, targets=(Target(EN, B1, C1), Target(JA, B1, B2)))
    partner = learner(native_language_id=EN, targets=(Target(KO, A1, B1), Target(JA, B2, C1)))
    # 40 + 40 + 15 (shared ja) + 12 (orders 3 vs 4) = 107 -> capped at 100
    assert language(me, partner) == 100.0


def test_language_nothing_lines_up_is_30_and_missing_targets_is_neutral_50() -> None:
    me = learner(native_language_id=KO, targets=(Target(EN, B1, C1),))
    other = learner(native_language_id=JA, targets=(Target(ZH, B1, C1),))
    no_targets = learner(native_language_id=ZH)
    # both have targets but nothing fires -> 30
    assert language(me, other) == 30.0
    # the partner has no target languages -> neutral 50 (both directions)
    assert language(me, no_targets) == 50.0
    assert language(no_targets, me) == 50.0
    # no targets, but I learn the partner's native language: +40, not neutral
    assert language(me, learner(native_language_id=EN)) == 40.0


# --------------------------------------------------------------------------- interests


def test_dice_coefficient_values() -> None:
    assert dice({1, 2, 3}, {2, 3, 4}) == 66.7  # 2*2 / (3+3) * 100 = 66.66.. -> 66.7
    assert dice({1}, {1}) == 100.0  # 2*1 / 2 * 100
    assert dice({1, 2, 3, 4}, {1}) == 40.0  # 2*1 / 5 * 100
    assert dice({1, 2}, {3}) == 0.0  # nothing shared
    assert dice((), ()) == 0.0  # defined as 0


def test_interests_are_dice_over_topics() -> None:
    # topics {1,2,3} vs {2,3,4}: 2*2 / 6 * 100 = 66.7 (the original capped this at 10.0)
    assert interests(MINJI, JOHN) == 66.7
    assert compatibility(MINJI, JOHN).shared.shared_topics == (2, 3)
    # {1,2,3} vs {4,5}: nothing shared -> 0 (no floor)
    assert interests(MINJI, learner(topics=(4, 5))) == 0.0
    # {1,2,3} vs {1,2,3,4,5}: 2*3 / 8 * 100 = 75
    assert interests(MINJI, learner(topics=(1, 2, 3, 4, 5))) == 75.0


def test_interests_neutral_when_a_side_has_none() -> None:
    assert interests(MINJI, learner()) == 50.0
    assert interests(learner(), MINJI) == 50.0


# --------------------------------------------------------------------------- goals


def test_goals_dice_over_motivations() -> None:
    # motivations {1,2} vs {2,3}: 2*1 / 4 * 100 = 50
    assert goals(MINJI, JOHN) == 50.0
    assert compatibility(MINJI, JOHN).shared.shared_motivations == (2,)


def test_goals_pool_motivations_and_expectations() -> None:
    me = learner(motivations=(1, 2), learning_expectations=(1,))
    partner = learner(motivations=(2,), learning_expectations=(1, 4))
    # A = {m1, m2, e1}, B = {m2, e1, e4}: shared {m2, e1}; 2*2 / 6 * 100 = 66.7
    assert goals(me, partner) == 66.7
    shared = compatibility(me, partner).shared
    assert (shared.shared_motivations, shared.shared_learning_expectations) == ((2,), (1,))


def test_goals_same_id_in_different_catalogues_is_a_different_goal() -> None:
    me = learner(motivations=(2,), learning_expectations=(3,))
    partner = learner(motivations=(3,), learning_expectations=(2,))
    # A = {m2, e3}, B = {m3, e2}: nothing shared -> 0 (no 45 floor)
    assert goals(me, partner) == 0.0


def test_goals_ignore_a_catalogue_only_one_side_answered() -> None:
    me = learner(motivations=(1,), learning_expectations=(1, 2))
    partner = learner(motivations=(1,))
    # expectations are skipped by the partner, so only motivations count: {m1} vs {m1} -> 100
    # (pooling my expectations anyway would give 2*1 / 4 * 100 = 50)
    assert goals(me, partner) == 100.0


def test_goals_neutral_without_a_common_catalogue() -> None:
    assert goals(learner(motivations=(1,)), learner(learning_expectations=(1,))) == 50.0
    assert goals(learner(), learner()) == 50.0


# --------------------------------------------------------------------------- personality


def test_personality_neutral_without_any_data() -> None:
    # 0.5*50 + 0.25*50 + 0.25*50 = 50
    assert personality(learner(), learner()) == 50.0


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ((1, 2), (1, 2), 75.0),  # Dice 100: 0.5*100 + 0.25*50 + 0.25*50 = 75
        ((1, 2), (2, 5), 50.0),  # Dice 2*1/4*100 = 50: 25 + 12.5 + 12.5 = 50
        ((1,), (2,), 25.0),  # Dice 0: 0 + 12.5 + 12.5 = 25
    ],
)
def test_personality_wanted_partner_similarity(
    mine: tuple[int, ...], theirs: tuple[int, ...], expected: float
) -> None:
    me, partner = learner(wanted_personalities=mine), learner(wanted_personalities=theirs)
    assert personality(me, partner) == expected


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ((LISTENING,), (SPEAKING,), 62.5),  # fit 100: 0.5*50 + 0.25*100 + 0.25*50 = 62.5
        ((LISTENING,), (LISTENING,), 50.0),  # fit 50: 25 + 12.5 + 12.5 = 50
        ((BALANCED,), (LISTENING,), 56.3),  # fit 75: 25 + 18.75 + 12.5 = 56.25 -> half-up 56.3
        ((LISTENING, SPEAKING), (LISTENING,), 56.3),  # pairs L-L 50, S-L 100: mean 75 -> 56.3
    ],
)
def test_personality_learning_style_fit(
    mine: tuple[int, ...], theirs: tuple[int, ...], expected: float
) -> None:
    me, partner = learner(learning_styles=mine), learner(learning_styles=theirs)
    assert personality(me, partner) == expected


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ("VOICE", "VOICE", 62.5),  # fit 100: 0.5*50 + 0.25*50 + 0.25*100 = 62.5
        ("HYBRID", "TEXT", 56.3),  # fit 75: 25 + 12.5 + 18.75 = 56.25 -> 56.3
        ("VOICE", "VIDEO", 50.0),  # fit 50: 25 + 12.5 + 12.5 = 50
        ("TEXT", "VIDEO", 43.8),  # fit 25: 25 + 12.5 + 6.25 = 43.75 -> 43.8
        ("voice", "VOICE", 62.5),  # codes are normalised
    ],
)
def test_personality_communication_fit(mine: str, theirs: str, expected: float) -> None:
    me, partner = learner(communication_method=mine), learner(communication_method=theirs)
    assert personality(me, partner) == expected


def test_personality_all_parts_together() -> None:
    # wanted {1,2} vs {2,5}: Dice 50; LISTENING vs SPEAKING: 100; VOICE vs VIDEO: 50
    # 0.5*50 + 0.25*100 + 0.25*50 = 25 + 25 + 12.5 = 62.5
    assert personality(MINJI, JOHN) == 62.5
    assert compatibility(MINJI, JOHN).shared.personality_overlap == (2,)


# --------------------------------------------------------------------------- overall


def test_overall_uses_the_original_weights() -> None:
    result = compatibility(MINJI, JOHN)
    # language 80, personality 62.5, goals 50, interests 66.7
    # 0.30*80 + 0.25*62.5 + 0.25*50 + 0.20*66.7 = 24 + 15.625 + 12.5 + 13.34 = 65.465 -> 65.5
    assert dict(result.category_scores) == {
        "language": 80.0,
        "personality": 62.5,
        "goals": 50.0,
        "interests": 66.7,
    }
    assert result.overall == 65.5
    assert result.level == "MEDIUM"


def test_no_data_at_all_is_neutral_everywhere() -> None:
    result = compatibility(learner("a"), learner("b"))
    # 0.30*50 + 0.25*50 + 0.25*50 + 0.20*50 = 50
    assert dict(result.category_scores) == dict.fromkeys(CATEGORIES, 50.0)
    assert result.overall == 50.0
    assert result.level == "LOW"


def test_a_perfect_pair_scores_100() -> None:
    me = replace(
        MINJI,
        targets=(Target(EN, B1, C1), Target(JA, B1, B2)),
        wanted_personalities=(1, 2),
        communication_method="VIDEO",
        topics=(1, 2),
        motivations=(2,),
    )
    partner = replace(
        JOHN,
        targets=(Target(KO, A1, B1), Target(JA, B1, B2)),
        wanted_personalities=(1, 2),
        communication_method="VIDEO",
        topics=(1, 2),
        motivations=(2,),
    )
    result = compatibility(me, partner)
    # language 40+40+15+12 -> 100; personality 0.5*100 + 0.25*100 (L/S) + 0.25*100 = 100;
    # goals Dice {m2} vs {m2} = 100; interests Dice {1,2} vs {1,2} = 100 -> overall 100
    assert dict(result.category_scores) == dict.fromkeys(CATEGORIES, 100.0)
    assert result.overall == 100.0
    assert result.level == "HIGH"


@pytest.mark.parametrize(
    ("score", "band"),
    [(100, "HIGH"), (80, "HIGH"), (79.9, "MEDIUM"), (60, "MEDIUM"), (59.9, "LOW"), (0, "LOW")],
)
def test_level_bands(score: float, band: str) -> None:
    assert compatibility_level(score) == band


PROFILES = [
    MINJI,
    JOHN,
    learner("empty"),
    learner(
        "yuki",
        native_language_id=JA,
        targets=(Target(KO, A2, B2), Target(EN, B2, C1)),
        topics=(3, 5),
        motivations=(1,),
        learning_expectations=(2,),
        wanted_personalities=(3,),
        learning_styles=(BALANCED,),
        communication_method="HYBRID",
    ),
    learner("wei", native_language_id=ZH, targets=(Target(EN, A1, B1),), topics=(9,)),
]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(PROFILES, 2)))
def test_every_category_is_symmetric(a: LearnerProfile, b: LearnerProfile) -> None:
    ab, ba = compatibility(a, b), compatibility(b, a)
    assert dict(ab.category_scores) == dict(ba.category_scores)
    assert ab.overall == ba.overall


@pytest.mark.parametrize(
    ("category", "change"),
    [
        ("language", {"targets": (Target(JA, B1, C1),)}),  # John stops learning Korean
        ("personality", {"wanted_personalities": (1, 2)}),
        ("personality", {"learning_styles": (LISTENING,)}),
        ("personality", {"communication_method": "TEXT"}),
        ("goals", {"motivations": (1, 2)}),
        ("interests", {"topics": (1, 2, 3)}),
    ],
)
def test_each_component_moves_independently(category: str, change: dict[str, Any]) -> None:
    before = scores(MINJI, JOHN)
    after = scores(MINJI, replace(JOHN, **change))
    others = [c for c in CATEGORIES if c != category]

    assert after[category] != before[category]
    assert {c: after[c] for c in others} == {c: before[c] for c in others}


def test_expectations_only_one_side_gave_change_nothing() -> None:
    # Minji gave no learning expectations, so John's are left out of the goal comparison
    assert scores(MINJI, replace(JOHN, learning_expectations=(1,))) == scores(MINJI, JOHN)


# --------------------------------------------------------------------------- text


def test_recommendation_prefix_by_band_and_suffix_by_best_category() -> None:
    result = compatibility(MINJI, JOHN)  # 65.5 MEDIUM, best = language (80)
    assert result.best_category == "language"
    assert result.recommendation() == "괜찮은 매칭입니다. 언어 교환에 최적화된 파트너입니다."
    assert result.recommendation("en") == (
        "A good match. A partner well suited to a language exchange."
    )


def made(overall: float, **category_scores: float) -> Compatibility:
    """A result with chosen numbers (the recommendation only reads the scores)."""
    return Compatibility(
        overall=overall,
        level=compatibility_level(overall),
        category_scores={c: category_scores.get(c, 0.0) for c in CATEGORIES},
        descriptions=dict.fromkeys(CATEGORIES, Label("", "")),
        shared=SharedInsights(),
    )


@pytest.mark.parametrize(
    ("result", "ko", "en"),
    [
        (
            made(85, goals=90),
            "매우 좋은 매칭입니다! 학습 목표가 비슷한 파트너입니다.",
            "A great match! A partner with similar learning goals.",
        ),
        (
            made(80, interests=90),
            "매우 좋은 매칭입니다! 공통 관심사가 많은 파트너입니다.",
            "A great match! A partner with many shared interests.",
        ),
        (
            made(60, personality=70),
            "괜찮은 매칭입니다. 성격이 잘 맞는 파트너입니다.",
            "A good match. A partner whose style suits yours.",
        ),
        (
            made(59.9, language=40, interests=40),  # tie: language comes first
            "호환성이 낮을 수 있습니다. 언어 교환에 최적화된 파트너입니다.",
            "Compatibility may be low. A partner well suited to a language exchange.",
        ),
    ],
)
def test_recommendation_text_bands(result: Compatibility, ko: str, en: str) -> None:
    assert result.recommendation("ko") == ko
    assert result.recommendation("en-US") == en


def test_explanations_in_both_languages() -> None:
    result = compatibility(MINJI, learner())
    ko, en = result.explain("ko"), result.explain("en")

    assert set(ko) == set(en) == set(CATEGORIES)
    assert ko["interests"] == "관심사 데이터가 부족하여 기본 점수를 적용했습니다."
    assert en["interests"] == "Not enough interest data, so a neutral score was used."
    assert "공통 관심사가 2개" in compatibility(MINJI, JOHN).explain()["interests"]


def test_response_shape_of_the_compatibility_endpoint() -> None:
    body = compatibility(MINJI, JOHN).as_response("en")

    assert body["overallScore"] == 65.5
    assert body["compatibilityLevel"] == "MEDIUM"
    assert body["categoryScores"]["interests"] == 66.7
    assert [d["category"] for d in body["categoryDetails"]] == list(CATEGORIES)
    assert body["sharedInsights"] == {
        "mutualExchangeLanguages": ["Korean", "English"],
        "sharedTargetLanguages": [],
        "sharedInterests": ["Current affairs", "Food"],
        "sharedGoals": ["Self-improvement"],
        "personalityOverlap": ["A teacher type who is good at corrections and feedback"],
    }


# --------------------------------------------------------------------------- availability


def slots(timezone: str | None, *entries: tuple[str, str]) -> LearnerProfile:
    return learner(schedules=entries, timezone=timezone)


def test_seoul_evening_meets_new_york_morning() -> None:
    # Seoul Mon 21:00 KST (UTC+9) = Mon 12:00 UTC; New York Mon 07:00 EST (UTC-5, January
    # reference week) = Mon 12:00 UTC -> the two one-hour slots coincide: 60/60 -> 100
    assert (
        availability_overlap(
            slots(SEOUL, ("MONDAY", "21:00")), slots(NEW_YORK, ("MONDAY", "07:00"))
        )
        == 100.0
    )


def test_same_wall_clock_in_different_zones_does_not_overlap() -> None:
    # Seoul Mon 21:00 = Mon 12:00 UTC; New York Mon 21:00 EST = Tue 02:00 UTC -> 0
    assert (
        availability_overlap(
            slots(SEOUL, ("MONDAY", "21:00")), slots(NEW_YORK, ("MONDAY", "21:00"))
        )
        == 0.0
    )


def test_partial_overlap_in_minutes() -> None:
    # Seoul Mon 21:30 = 12:30-13:30 UTC; New York Mon 07:00 = 12:00-13:00 UTC -> 30/60 = 50
    assert (
        availability_overlap(
            slots(SEOUL, ("MONDAY", "21:30")), slots(NEW_YORK, ("MONDAY", "07:00"))
        )
        == 50.0
    )


def test_overlap_is_relative_to_the_smaller_schedule() -> None:
    me = slots(SEOUL, ("MONDAY", "21:00"), ("TUESDAY", "21:00"), ("WEDNESDAY", "21:00"))
    # 180 min vs 60 min, 60 shared: 60 / min(180, 60) = 100 (Jaccard would be 60/180 = 33.3)
    assert availability_overlap(me, slots(NEW_YORK, ("MONDAY", "07:00"))) == 100.0
    two = slots(NEW_YORK, ("MONDAY", "07:00"), ("FRIDAY", "07:00"))
    # Fri 07:00 EST = Fri 12:00 UTC is not in my week: 60 / min(180, 120) = 50
    assert availability_overlap(me, two) == 50.0


def test_overlap_wraps_around_the_week() -> None:
    # Seoul Mon 08:00 KST = Sun 23:00 UTC; New York Sun 18:00 EST = Sun 23:00 UTC -> 100
    assert (
        availability_overlap(
            slots(SEOUL, ("MONDAY", "08:00")), slots(NEW_YORK, ("SUNDAY", "18:00"))
        )
        == 100.0
    )
    # Seoul Mon 08:30 = Sun 23:30 - Mon 00:30 UTC; New York Sun 19:00 EST = Mon 00:00-01:00 UTC
    # -> shared Mon 00:00-00:30 UTC = 30 min; 30/60 = 50
    assert (
        availability_overlap(
            slots(SEOUL, ("MONDAY", "08:30")), slots(NEW_YORK, ("SUNDAY", "19:00"))
        )
        == 50.0
    )


def test_southern_hemisphere_summer_time_in_the_reference_week() -> None:
    # Sydney Mon 23:00 AEDT (UTC+11 in January) = Mon 12:00 UTC = Seoul Mon 21:00 -> 100
    assert (
        availability_overlap(slots(SYDNEY, ("MONDAY", "23:00")), slots(SEOUL, ("MONDAY", "21:00")))
        == 100.0
    )


def test_availability_neutral_and_missing_time_zones() -> None:
    seoul = slots(SEOUL, ("MONDAY", "21:00"))
    # no schedule on one side -> 50
    assert availability_overlap(seoul, learner(timezone=NEW_YORK)) == 50.0
    # a missing or unknown zone takes the partner's: wall-clock Mon 21:00 on both -> 100
    assert availability_overlap(seoul, slots(None, ("MON", "21:00"))) == 100.0
    assert availability_overlap(seoul, slots("Mars/Olympus", ("MONDAY", "21:00"))) == 100.0
    # unparseable entries are skipped; nothing left -> 50
    assert availability_overlap(seoul, slots(SEOUL, ("FUNDAY", "21:00"))) == 50.0


# --------------------------------------------------------------------------- level fit


def test_level_fit_same_language() -> None:
    me = learner(targets=(Target(EN, B1, C1),))
    # B1 vs B2: index gap 1 -> 100 - 20 = 80
    assert level_fit(me, learner(targets=(Target(EN, B2, C1),))) == 80.0
    # A1 vs C2 (near-native): gap 5 -> 100 - 100 = 0; clamped at 0 beyond
    assert (
        level_fit(
            learner(targets=(Target(EN, A1, B1),)),
            learner(targets=(Target(EN, NEAR_NATIVE, NEAR_NATIVE),)),
        )
        == 0.0
    )


def test_level_fit_prefers_the_assessed_level() -> None:
    partner = learner(targets=(Target(EN, B2, C1),))
    # assessed C1 (self-assessed B1 ignored) vs B2: gap 1 -> 80
    assert level_fit(learner(targets=(Target(EN, B1, C1),), cefr_level="C1"), partner) == 80.0
    # assessed A1 vs B2: gap 3 -> 100 - 60 = 40
    assert level_fit(learner(targets=(Target(EN, B1, C1),), cefr_level="A1"), partner) == 40.0
    # an assessment of Japanese does not change English: B1 vs B2 -> 80
    ja_test = learner(targets=(Target(EN, B1, C1),), cefr_level="A1", cefr_language_id=JA)
    assert level_fit(ja_test, partner) == 80.0


def test_level_fit_exchange_pair() -> None:
    # Minji's English B1 vs John's Korean A1: gap 2 -> 100 - 40 = 60
    assert level_fit(MINJI, JOHN) == 60.0
    assert level_fit(JOHN, MINJI) == 60.0
    # plus a shared Japanese at C1 on both sides (gap 0 -> 100): mean(60, 100) = 80
    me = replace(MINJI, targets=(*MINJI.targets, Target(JA, C1, C2)))
    partner = replace(JOHN, targets=(*JOHN.targets, Target(JA, C1, C2)))
    assert level_fit(me, partner) == 80.0


def test_level_fit_neutral_without_comparable_pairs() -> None:
    assert level_fit(learner(targets=(Target(EN, B1, C1),)), learner(targets=(Target(JA),))) == 50.0
    assert level_fit(learner(targets=(Target(EN),)), learner(targets=(Target(EN, B1, C1),))) == 50.0


# --------------------------------------------------------------------------- cosine


def test_cosine() -> None:
    assert cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert cosine([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [-1.0, 0.0]) == -1.0
    assert cosine([1.0, 1.0], [1.0, 0.0]) == pytest.approx(1 / math.sqrt(2))  # 0.7071
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="lengths differ"):
        cosine([1.0], [1.0, 2.0])


# --------------------------------------------------------------------------- rows


def test_from_row_reads_the_profiles_read_model() -> None:
    row = {
        "user_id": "u-1",
        "native_language_id": KO,
        "target_languages": [{"language_id": EN, "current_level_id": B1, "target_level_id": C1}],
        "motivations": [2, 1],
        "topics": [3, 1],
        "learning_styles": [LISTENING],
        "learning_expectations": None,
        "partner_personalities": [5, 2],
        "partner_gender": "ANY",
        "communication_method": "VOICE",
        "daily_minutes": "MINUTES_30",
        "schedules": [{"day_of_week": "MONDAY", "class_time": "21:00"}],
        "location_id": 1,
        "gender": "FEMALE",
        "birth_year": "1995",
        "group_sizes": [1],
    }
    profile = LearnerProfile.from_row(row, cefr_level="b2")

    assert profile == LearnerProfile(
        user_id="u-1",
        native_language_id=KO,
        targets=(Target(EN, B1, C1),),
        motivations=(1, 2),
        topics=(1, 3),
        learning_styles=(LISTENING,),
        learning_expectations=(),
        wanted_personalities=(2, 5),
        partner_gender="ANY",
        communication_method="VOICE",
        daily_minutes="MINUTES_30",
        schedules=(("MONDAY", "21:00"),),
        timezone=SEOUL,
        cefr_level="B2",
        birth_year=1995,
        gender="FEMALE",
    )


def test_from_row_with_an_unfinished_profile() -> None:
    profile = LearnerProfile.from_row({"user_id": "u-2", "birth_year": None})

    assert profile == LearnerProfile(user_id="u-2")
    assert compatibility(profile, MINJI).overall == 50.0  # every category neutral
