"""Properties of the one score->CEFR table (workers/cefr_scorer.py).

The result screen shows a level and a 0-100 score side by side and the profile keeps the
level, so the table must be total over the scale, never step down as the score rises, and
agree with the score the scorer reports for a calibrated level; the result route's band
limits (api/level_tests.py) read the same table.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.level_tests import CEFR_LEVELS
from domain.levels import BANDS, level_for, overall_for

_scores = st.floats(0, 100, allow_nan=False)
_levels = st.floats(-10, 20, allow_nan=False)


@given(_scores)
def test_every_score_from_0_to_100_has_exactly_one_level(score: float) -> None:
    level = level_for(score)
    index = CEFR_LEVELS.index(level)
    assert BANDS[index] <= score < BANDS[index + 1]


@given(_scores, _scores)
def test_a_higher_score_never_gives_a_lower_level(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert CEFR_LEVELS.index(level_for(low)) <= CEFR_LEVELS.index(level_for(high))


@given(_levels)
def test_a_calibrated_level_becomes_a_score_inside_its_own_band(level_value: float) -> None:
    """``overall_for`` clamps any regression output to the scale, and the level shown for the
    score is the level the regression rounded to."""
    overall = overall_for(level_value)
    assert 0 <= overall <= 100
    nearest = min(max(round(level_value), 1), 6)
    assert level_for(overall) == CEFR_LEVELS[nearest - 1]


@given(_levels, _levels)
def test_a_higher_calibrated_level_never_gives_a_lower_score(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert overall_for(low) <= overall_for(high)
