"""Properties of partner scoring (domain/compatibility.py) over generated learner profiles.

Ranking pages slice one order and the SPA shows the numbers as percentages, so every score
must stay within 0..100 whatever the profiles hold (unknown catalogue ids, duplicate
entries, odd schedules and time zones), and the module promises symmetry: how well A suits
B is how well B suits A. The overall score must be the documented weighted sum of the
category scores and its band must follow from it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.compatibility import (
    CATEGORIES,
    DAYS,
    WEIGHTS,
    LearnerProfile,
    Target,
    availability_overlap,
    compatibility,
    compatibility_level,
    cosine,
    dice,
    level_fit,
)

# Ids a little past the catalogues' ends, so unknown ids are exercised too.
_ids = st.lists(st.integers(1, 12), max_size=5).map(tuple)
_level = st.one_of(st.none(), st.integers(99, 107))
_target = st.builds(Target, st.integers(1, 6), _level, _level)
_time = st.one_of(
    st.tuples(st.integers(0, 23), st.sampled_from([0, 30])).map(lambda t: f"{t[0]:02}:{t[1]:02}"),
    st.sampled_from(["24:00", "9:00", "", "noon"]),
)
_schedule = st.tuples(st.sampled_from([*DAYS, "monday", "FUNDAY"]), _time)
_zone = st.sampled_from([None, "Asia/Seoul", "America/New_York", "Australia/Sydney", "UTC",
                         "Asia/Kathmandu", "Not/AZone"])  # fmt: skip

profiles = st.builds(
    LearnerProfile,
    user_id=st.sampled_from(["a", "b"]),
    native_language_id=st.one_of(st.none(), st.integers(1, 6)),
    targets=st.lists(_target, max_size=3).map(tuple),
    motivations=_ids,
    topics=_ids,
    learning_styles=st.lists(st.integers(1, 4), max_size=3).map(tuple),
    learning_expectations=_ids,
    wanted_personalities=_ids,
    communication_method=st.sampled_from([None, "TEXT", "VOICE", "VIDEO", "HYBRID", "OTHER"]),
    schedules=st.lists(_schedule, max_size=6).map(tuple),
    timezone=_zone,
    cefr_level=st.sampled_from([None, "A1", "B2", "C2", "Z9"]),
    cefr_language_id=st.one_of(st.none(), st.integers(1, 6)),
)


def _bounded(score: float) -> bool:
    return 0 <= score <= 100 and round(score, 1) == score


@given(profiles, profiles)
def test_compatibility_is_bounded_and_symmetric(
    me: LearnerProfile, partner: LearnerProfile
) -> None:
    forward, backward = compatibility(me, partner), compatibility(partner, me)
    assert _bounded(forward.overall)
    assert all(_bounded(forward.category_scores[c]) for c in CATEGORIES)
    assert forward.category_scores == backward.category_scores
    assert forward.overall == backward.overall


@given(profiles, profiles)
def test_the_overall_score_is_the_weighted_category_sum_and_sets_the_band(
    me: LearnerProfile, partner: LearnerProfile
) -> None:
    result = compatibility(me, partner)
    weighted = sum(
        Decimal(repr(result.category_scores[c])) * Decimal(WEIGHTS[c].numerator)
        / Decimal(WEIGHTS[c].denominator)
        for c in CATEGORIES
    )  # fmt: skip
    assert result.overall == float(Decimal(weighted).quantize(Decimal("0.1"), ROUND_HALF_UP))
    assert result.level == compatibility_level(result.overall)


@given(st.floats(0, 100), st.floats(0, 100))
def test_compatibility_bands_are_monotonic(a: float, b: float) -> None:
    order = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}
    low, high = sorted((a, b))
    assert order[compatibility_level(low)] <= order[compatibility_level(high)]


@given(profiles, profiles)
def test_availability_and_level_fit_are_bounded_and_symmetric(
    me: LearnerProfile, partner: LearnerProfile
) -> None:
    assert _bounded(availability_overlap(me, partner))
    assert availability_overlap(me, partner) == availability_overlap(partner, me)
    assert _bounded(level_fit(me, partner))
    assert level_fit(me, partner) == level_fit(partner, me)


@given(profiles)
def test_a_learner_with_a_schedule_fully_overlaps_themselves(me: LearnerProfile) -> None:
    assert availability_overlap(me, me) in (50.0, 100.0)


@given(_ids, _ids)
def test_dice_is_bounded_symmetric_and_full_for_equal_sets(
    a: tuple[int, ...], b: tuple[int, ...]
) -> None:
    assert _bounded(dice(a, b)) and dice(a, b) == dice(b, a)
    assert dice(a, a) == (100.0 if a else 0.0)


_vector = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=3)


@given(_vector, _vector)
def test_cosine_is_bounded_and_symmetric(a: list[float], b: list[float]) -> None:
    similarity = cosine(a, b)
    assert -1.0 <= similarity <= 1.0
    assert similarity == cosine(b, a)
