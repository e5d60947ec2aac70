"""The one score->CEFR table (domain.md 1.12 replaced the original's three with it).

    A1 [0, 40)   A2 [40, 55)   B1 [55, 70)   B2 [70, 80)   C1 [80, 90)   C2 [90, 100]

It lives in the domain because both sides read it: the scorer places a calibrated level
inside its band, and the API tells a learner where in the band a score falls and how far
the next band is. Neither side may own it alone, or the two would drift.
"""

from __future__ import annotations

from domain.level_tests import CEFR_LEVELS

BANDS = (0, 40, 55, 70, 80, 90, 101)
"""Lower bounds of A1..C2 on the 0-100 scale (and an upper sentinel)."""


def level_for(overall: float) -> str:
    """The CEFR level a 0-100 score falls in."""
    index = max(i for i, low in enumerate(BANDS[:-1]) if overall >= low)
    return CEFR_LEVELS[index]


def band(level: str) -> tuple[int, int]:
    """The level's scores as ``[low, high)``; C2's high is 100, the top of the scale."""
    index = CEFR_LEVELS.index(level)
    return BANDS[index], 100 if index == 5 else BANDS[index + 1]


def overall_for(level_value: float) -> int:
    """A continuous level (1 = A1 .. 6 = C2) as a 0-100 score inside its band."""
    index = min(max(round(level_value) - 1, 0), 5)
    within = min(max(level_value - (index + 1) + 0.5, 0.0), 0.999)
    low, high = band(CEFR_LEVELS[index])
    return int(low + within * (high - low))


def sub_level(level: str, overall: int) -> str:
    """Where in its band the score falls: ``B1-`` (lower third), ``B1``, ``B1+``."""
    low, high = band(level)
    third = (overall - low) / max(high - low, 1)
    return level + ("-" if third < 1 / 3 else "+" if third >= 2 / 3 else "")
