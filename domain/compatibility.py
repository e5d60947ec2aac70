"""Rule-based partner compatibility, rebuilt from the onboarding data the learners really give.

Pure and deterministic (stdlib + :mod:`domain.reference`, no I/O): the same two profiles always
give the same numbers, so scores can be cached, compared and unit-tested by hand.

The score keeps the original's shape (``W:services/matching.ts`` and Spring's
``CompatibilityCalculatorServiceImpl``, see domain.md §1.3.1): four categories weighted
**language 30 %, personality 25 %, goals 25 %, interests 20 %**, each 0..100, the overall rounded
to one decimal, bands HIGH >= 80 / MEDIUM >= 60 / LOW, a neutral 50 for a category when one side
has no data for it, and the same banded recommendation sentence. Every category is symmetric:
``compatibility(a, b)`` and ``compatibility(b, a)`` have the same scores.

Corrections to the originals, and why
-------------------------------------
1. **Interests** are the Dice coefficient over topic ids, ``2·|A∩B| / (|A|+|B|) · 100`` (Spring's
   formula). The Worker divided by the *union* and then by 10 after multiplying by 1000, so the
   score was effectively capped at 10 and a user with no interests (neutral 50) beat every user
   with shared interests. Comparing ids instead of localised names also stops Korean and English
   labels from never matching.
2. **Language** uses language *ids* for both exchange directions and for shared targets. In the
   recommendation path the original had no ids (so "the partner learns my native language" never
   fired) and compared my codes with their names (so shared targets never matched); with
   the §1.1 completion bug the native language was usually NULL as well.
3. **Level closeness** (the bonus for a shared target language) uses the reference ``order`` of the
   levels. The seed left ``level_order`` NULL, so the bonus was always 5. It also compares the
   *current* levels (falling back to the target level), where the original preferred the target
   levels: two people practising a language together need similar ability now; the target is an
   aspiration and is "advanced" for nearly everybody. The original's ``min(15, mean)`` is kept
   but is moot (the mean of 12/8/5 never exceeds 12).
4. **Goals** are the learner's motivations plus learning expectations. The original read
   ``onboarding_study_goal``, a table nothing ever wrote, so goals were 50 for everyone. The
   score is the Dice coefficient over the pooled ``(catalogue, id)`` items, counting only the
   catalogues *both* learners answered (learning expectations are optional in onboarding: a list
   one side skipped is left out instead of counting as a mismatch). No complementary bonus: the
   original's pairs (BUSINESS/CASUAL, ACADEMIC/PRACTICAL, TEST_PREP/CONVERSATION) name codes that
   do not exist in our catalogues, and no mapping between motivations is defensible enough to
   reward *different* goals. The original's "0 -> 45" floor is dropped: it patched a count-based
   score; Dice is already a 0..100 ratio.
5. **Personality.** Onboarding records the personalities a learner *wants in a partner*
   (FRIENDLY, TEACHER, ...), not their own traits, and the original compared those Korean phrases
   with uppercase trait codes (INTROVERT/EXTROVERT, ...) that never occur, so its complementary
   pairs never fired. What the data does support is *partnership-style fit*: do the two want the
   same kind of exchange? Personality = ``0.50 · Dice(wanted personalities)`` +
   ``0.25 · learning-style fit`` + ``0.25 · communication fit``, each part a neutral 50 when a
   side did not answer it (so no data at all gives 50, as in the original):

   * learning-style fit is the mean over every pair of chosen styles: LISTENING with SPEAKING 100
     (one likes to listen, the other to talk: the original's "complementary pair" idea, kept),
     any pair with BALANCED 75, the same one-sided style twice 50;
   * communication fit: the same method 100, HYBRID with anything 75, VOICE with VIDEO 50 (both
     live speech), TEXT with VOICE or VIDEO 25.

   ``personality_overlap`` lists the wanted-personality ids both chose.
6. **Rounding** is half-up to one decimal on exact fractions (the original's
   ``Math.round(x*10)/10``), not Python's float ``round``, which rounds 0.x5 cases either way.
   The overall score is computed from the rounded category scores, as in the original.
7. **Descriptions** say what is true: the original told users their goals were "complementary"
   whenever none overlapped, and that languages "partly overlapped" when none did.
8. The best category of the recommendation breaks ties in the fixed order language,
   personality, goals, interests (the original's stable sort did the same).

For the advanced ranking mode, the pure helpers :func:`availability_overlap` (real weekly time
overlap across time zones, replacing the AI path's "is ``dailyMinute`` equal" test),
:func:`level_fit` (CEFR distance, replacing the AI path's comparison of Korean level sentences
with CEFR codes, which made every level gap 0) and :func:`cosine` (for profile embeddings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain import reference
from domain.reference import Label

Category = Literal["language", "personality", "goals", "interests"]
Band = Literal["HIGH", "MEDIUM", "LOW"]

CATEGORIES: tuple[Category, ...] = ("language", "personality", "goals", "interests")
"""Also the tie-break order for the recommendation's best category."""
WEIGHTS: Mapping[Category, Fraction] = {
    "language": Fraction(30, 100),
    "personality": Fraction(25, 100),
    "goals": Fraction(25, 100),
    "interests": Fraction(20, 100),
}
_DECIMAL_WEIGHTS = {c: Decimal(w.numerator) / Decimal(w.denominator) for c, w in WEIGHTS.items()}
_TENTH = Decimal("0.1")
NEUTRAL = 50.0
"""The score of a category (or sub-part) when one side has no data for it."""

DAYS: tuple[str, ...] = (
    "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
)  # fmt: skip
REFERENCE_MONDAY = datetime(2026, 1, 5)
"""Availability is placed in this fixed week (Monday 2026-01-05), so results never depend on the
date they are computed: the UTC offsets are those in force that week (northern zones on
standard time, e.g. New York UTC-5; southern zones on summer time, e.g. Sydney UTC+11). A pair
whose zones change clocks on different dates may really overlap an hour more or less in other
seasons; hour-sized slots make that an acceptable approximation for ranking."""
SLOT_MINUTES = 60
"""Each schedule entry is a one-hour slot starting at its ``class_time``."""
WEEK_MINUTES = 7 * 24 * 60
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$")
_CEFR_INDEX = {cefr: index for index, cefr in enumerate(reference.CEFR_LEVELS)}


# ======================================================================================
# Profiles
# ======================================================================================


@dataclass(frozen=True)
class Target:
    """A language the learner is learning, with level ids from the reference (100-106)."""

    language_id: int
    current_level_id: int | None = None
    target_level_id: int | None = None


@dataclass(frozen=True)
class LearnerProfile:
    """What scoring needs of one learner: ids from the reference catalogues, no labels.

    ``wanted_personalities`` are the partner personalities the learner *wants* (onboarding's
    partner page), not their own. ``schedules`` are ``(day_of_week, "HH:MM")`` in the learner's
    own ``timezone`` (IANA). ``cefr_level`` is an assessed level (a level test); it applies to
    ``cefr_language_id``, or to every target language when that is None.
    """

    user_id: str
    native_language_id: int | None = None
    targets: tuple[Target, ...] = ()
    motivations: tuple[int, ...] = ()
    topics: tuple[int, ...] = ()
    learning_styles: tuple[int, ...] = ()
    learning_expectations: tuple[int, ...] = ()
    wanted_personalities: tuple[int, ...] = ()
    partner_gender: str | None = None
    communication_method: str | None = None
    daily_minutes: str | None = None
    schedules: tuple[tuple[str, str], ...] = ()
    timezone: str | None = None
    cefr_level: str | None = None
    cefr_language_id: int | None = None
    birth_year: int | None = None
    gender: str | None = None

    @classmethod
    def from_row(
        cls,
        row: Mapping[str, Any],
        *,
        cefr_level: str | None = None,
        cefr_language_id: int | None = None,
    ) -> LearnerProfile:
        """From a ``profiles`` read-model row (``projections/profiles.py``). Missing or null
        columns become empty; the time zone comes from ``location_id``. The assessed level is
        not in that table: pass it (or put ``cefr_level`` / ``cefr_language_id`` in the row)."""
        targets = tuple(
            Target(
                int(t["language_id"]),
                _int_or_none(t.get("current_level_id")),
                _int_or_none(t.get("target_level_id")),
            )
            for t in row.get("target_languages") or ()
            if isinstance(t, Mapping) and _int_or_none(t.get("language_id")) is not None
        )
        schedules = tuple(
            (str(s["day_of_week"]), str(s["class_time"]))
            for s in row.get("schedules") or ()
            if isinstance(s, Mapping) and s.get("day_of_week") and s.get("class_time")
        )
        location_id = _int_or_none(row.get("location_id"))
        location = reference.location(location_id) if location_id is not None else None
        birth_year = str(row.get("birth_year") or "").strip()
        cefr = (cefr_level or row.get("cefr_level") or "").strip().upper()
        return cls(
            user_id=str(row["user_id"]),
            native_language_id=_int_or_none(row.get("native_language_id")),
            targets=targets,
            motivations=_ids(row.get("motivations")),
            topics=_ids(row.get("topics")),
            learning_styles=_ids(row.get("learning_styles")),
            learning_expectations=_ids(row.get("learning_expectations")),
            wanted_personalities=_ids(row.get("partner_personalities")),
            partner_gender=row.get("partner_gender") or None,
            communication_method=row.get("communication_method") or None,
            daily_minutes=row.get("daily_minutes") or None,
            schedules=schedules,
            timezone=location.timezone if location else None,
            cefr_level=cefr if cefr in _CEFR_INDEX else None,
            cefr_language_id=(
                cefr_language_id
                if cefr_language_id is not None
                else _int_or_none(row.get("cefr_language_id"))
            ),
            birth_year=int(birth_year) if birth_year.isdigit() else None,
            gender=row.get("gender") or None,
        )

    def target_map(self) -> dict[int, Target]:
        """Targets by language id (the first entry wins if a language is listed twice)."""
        out: dict[int, Target] = {}
        for target in self.targets:
            out.setdefault(target.language_id, target)
        return out


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _ids(values: Iterable[Any] | None) -> tuple[int, ...]:
    found = (_int_or_none(v) for v in values or ())
    return tuple(sorted({v for v in found if v is not None}))


# ======================================================================================
# Result
# ======================================================================================


@dataclass(frozen=True)
class SharedInsights:
    """What the two have in common, as reference ids (sorted, except where noted)."""

    mutual_exchange_languages: tuple[int, ...] = ()
    """My native language if the partner learns it, then the partner's if I learn it."""
    shared_target_languages: tuple[int, ...] = ()
    shared_topics: tuple[int, ...] = ()
    shared_motivations: tuple[int, ...] = ()
    shared_learning_expectations: tuple[int, ...] = ()
    personality_overlap: tuple[int, ...] = ()
    """Partner-personality ids both learners want."""


@dataclass(frozen=True)
class Compatibility:
    """The score of one learner against one partner.

    ``category_scores`` and ``descriptions`` are keyed by :data:`CATEGORIES`; ``descriptions``
    hold a short Korean and English explanation of each score.
    """

    overall: float
    level: Band
    category_scores: Mapping[Category, float]
    descriptions: Mapping[Category, Label]
    shared: SharedInsights

    @property
    def best_category(self) -> Category:
        """The highest-scoring category; ties go to the earlier one in :data:`CATEGORIES`."""
        best = max(self.category_scores[c] for c in CATEGORIES)
        return next(c for c in CATEGORIES if self.category_scores[c] == best)

    def explain(self, lang: str = "ko") -> dict[Category, str]:
        """Each category's explanation in ``lang`` (``ko`` or ``en``; anything else -> ko)."""
        code = reference.normalize_lang(lang)
        return {c: self.descriptions[c].get(code) for c in CATEGORIES}

    def recommendation(self, lang: str = "ko") -> str:
        """The original's sentence: a prefix by band, then a suffix by the best category."""
        code = reference.normalize_lang(lang)
        if self.overall >= 80:
            prefix = _PREFIX["HIGH"]
        elif self.overall >= 60:
            prefix = _PREFIX["MEDIUM"]
        else:
            prefix = _PREFIX["LOW"]
        return f"{prefix.get(code)} {_SUFFIX[self.best_category].get(code)}"

    def as_response(self, lang: str = "ko") -> dict[str, Any]:
        """The ``GET /matching/compatibility/{id}`` body, with catalogue labels in ``lang``."""
        code = reference.normalize_lang(lang)
        shared = self.shared
        explained = self.explain(code)

        def labels(found: Iterable[reference.Labelled | None]) -> list[str]:
            return [reference.label(item, code) for item in found if item is not None]

        return {
            "overallScore": self.overall,
            "compatibilityLevel": self.level,
            "recommendation": self.recommendation(code),
            "categoryScores": {c: self.category_scores[c] for c in CATEGORIES},
            "categoryDetails": [
                {"category": c, "score": self.category_scores[c], "description": explained[c]}
                for c in CATEGORIES
            ],
            "sharedInsights": {
                "mutualExchangeLanguages": labels(
                    map(reference.language, shared.mutual_exchange_languages)
                ),
                "sharedTargetLanguages": labels(
                    map(reference.language, shared.shared_target_languages)
                ),
                "sharedInterests": labels(map(reference.topic, shared.shared_topics)),
                "sharedGoals": labels(map(reference.motivation, shared.shared_motivations))
                + labels(map(reference.learning_expectation, shared.shared_learning_expectations)),
                "personalityOverlap": labels(
                    map(reference.partner_personality, shared.personality_overlap)
                ),
            },
        }


_PREFIX: Mapping[Band, Label] = {
    "HIGH": Label("매우 좋은 매칭입니다!", "A great match!"),
    "MEDIUM": Label("괜찮은 매칭입니다.", "A good match."),
    "LOW": Label("호환성이 낮을 수 있습니다.", "Compatibility may be low."),
}
_SUFFIX: Mapping[Category, Label] = {
    "language": Label(
        "언어 교환에 최적화된 파트너입니다.", "A partner well suited to a language exchange."
    ),
    "personality": Label("성격이 잘 맞는 파트너입니다.", "A partner whose style suits yours."),
    "goals": Label("학습 목표가 비슷한 파트너입니다.", "A partner with similar learning goals."),
    "interests": Label("공통 관심사가 많은 파트너입니다.", "A partner with many shared interests."),
}


def compatibility_level(score: float) -> Band:
    """HIGH >= 80, MEDIUM >= 60, else LOW (the original's bands)."""
    return "HIGH" if score >= 80 else "MEDIUM" if score >= 60 else "LOW"


# ======================================================================================
# Scoring
# ======================================================================================


@dataclass(frozen=True)
class _Part:
    score: float
    description: Label


def compatibility(me: LearnerProfile, partner: LearnerProfile) -> Compatibility:
    """Score ``partner`` for ``me``: the four categories, the weighted overall and the band."""
    language, mutual, shared_targets = _language(me, partner)
    personality = _personality(me, partner)
    goals, shared_motivations, shared_expectations = _goals(me, partner)
    interests = _interests(me, partner)
    parts: dict[Category, _Part] = {
        "language": language,
        "personality": personality,
        "goals": goals,
        "interests": interests,
    }
    scores = {c: parts[c].score for c in CATEGORIES}
    weighted = sum((Decimal(repr(scores[c])) * _DECIMAL_WEIGHTS[c] for c in CATEGORIES), Decimal(0))
    overall = float(weighted.quantize(_TENTH, rounding=ROUND_HALF_UP))
    return Compatibility(
        overall=overall,
        level=compatibility_level(overall),
        category_scores=scores,
        descriptions={c: parts[c].description for c in CATEGORIES},
        shared=SharedInsights(
            mutual_exchange_languages=mutual,
            shared_target_languages=shared_targets,
            shared_topics=tuple(sorted(set(me.topics) & set(partner.topics))),
            shared_motivations=shared_motivations,
            shared_learning_expectations=shared_expectations,
            personality_overlap=tuple(
                sorted(set(me.wanted_personalities) & set(partner.wanted_personalities))
            ),
        ),
    )


def dice(a: Iterable[object], b: Iterable[object]) -> float:
    """Dice coefficient ``2·|A∩B| / (|A|+|B|) · 100`` over distinct items, rounded to 0.1
    (0 when both are empty)."""
    return _round1(_dice(set(a), set(b)))


def _dice(a: set[Any], b: set[Any]) -> Fraction:
    if not a and not b:
        return Fraction(0)
    return Fraction(200 * len(a & b), len(a) + len(b))


# -- language ----------------------------------------------------------------------------


def _language(
    me: LearnerProfile, partner: LearnerProfile
) -> tuple[_Part, tuple[int, ...], tuple[int, ...]]:
    """+40 if the partner learns my native language, +40 if I learn theirs, +15 for a shared
    target language plus a level-closeness bonus (mean over shared languages of 12 / 8 / 5 for
    a current-level gap of <= 1 / <= 2 / more or unknown). Nothing at all: 50 when a side has
    no target languages (no data), else 30. Capped at 100."""
    mine, theirs = me.target_map(), partner.target_map()
    score = Fraction(0)
    ko: list[str] = []
    en: list[str] = []
    mutual: list[int] = []
    if me.native_language_id is not None and me.native_language_id in theirs:
        score += 40
        mutual.append(me.native_language_id)
        ko.append("상대가 내 모국어를 학습 중입니다.")
        en.append("Your partner is learning your native language.")
    if partner.native_language_id is not None and partner.native_language_id in mine:
        score += 40
        mutual.append(partner.native_language_id)
        ko.append("내가 상대의 모국어를 학습하고 있습니다.")
        en.append("You are learning your partner's native language.")
    shared = tuple(sorted(mine.keys() & theirs.keys()))
    if shared:
        bonuses = [_closeness_bonus(mine[lang], theirs[lang]) for lang in shared]
        bonus = min(Fraction(15), Fraction(sum(bonuses), len(bonuses)))
        score += 15 + bonus
        ko.append("같은 목표 언어를 함께 학습하고 있습니다.")
        en.append("You are learning the same language.")
        if bonus >= 10:
            ko.append("언어 레벨이 비슷해 대화가 수월합니다.")
            en.append("Your levels are close, so practising together is easy.")
    if score == 0:
        if not mine or not theirs:
            score = Fraction(50)
            ko.append("언어 학습 정보가 부족하여 기본 점수를 적용했습니다.")
            en.append("Not enough language data, so a neutral score was used.")
        else:
            score = Fraction(30)
            ko.append("언어 학습 방향이 서로 겹치지 않습니다.")
            en.append("Your languages do not line up for an exchange.")
    part = _Part(_round1(min(score, Fraction(100))), Label(" ".join(ko), " ".join(en)))
    return part, tuple(mutual), shared


def _level_order(target: Target) -> int | None:
    level_id = target.current_level_id or target.target_level_id
    found = reference.language_level(level_id) if level_id is not None else None
    return found.order if found else None


def _closeness_bonus(a: Target, b: Target) -> int:
    order_a, order_b = _level_order(a), _level_order(b)
    if order_a is None or order_b is None:
        return 5
    gap = abs(order_a - order_b)
    return 12 if gap <= 1 else 8 if gap <= 2 else 5


# -- personality -------------------------------------------------------------------------


def _personality(me: LearnerProfile, partner: LearnerProfile) -> _Part:
    """0.50 · Dice(wanted personalities) + 0.25 · learning-style fit + 0.25 · communication fit,
    each part 50 when a side did not answer it (see the module docstring, correction 5)."""
    wanted_a, wanted_b = set(me.wanted_personalities), set(partner.wanted_personalities)
    wanted = _dice(wanted_a, wanted_b) if wanted_a and wanted_b else None
    style = _style_fit(_codes(me.learning_styles), _codes(partner.learning_styles))
    method = _method_fit(_method(me), _method(partner))
    neutral = Fraction(50)
    score = (
        Fraction(1, 2) * (neutral if wanted is None else wanted)
        + Fraction(1, 4) * (neutral if style is None else style)
        + Fraction(1, 4) * (neutral if method is None else method)
    )
    ko: list[str] = []
    en: list[str] = []
    if wanted is None and style is None and method is None:
        ko.append("파트너 선호 데이터가 부족하여 기본 점수를 적용했습니다.")
        en.append("Not enough partner-preference data, so a neutral score was used.")
    else:
        common = len(wanted_a & wanted_b)
        if common:
            ko.append(f"원하는 파트너 유형이 {common}개 겹칩니다.")
            en.append(f"You want {common} partner quality(ies) in common.")
        if style is not None and style >= 75:
            ko.append("학습 스타일이 잘 맞습니다.")
            en.append("Your learning styles fit well.")
        if method is not None and method >= 75:
            ko.append("선호하는 소통 방식이 잘 맞습니다.")
            en.append("Your preferred ways of communicating fit well.")
        if not ko:
            ko.append("원하는 파트너 유형과 학습 방식이 서로 다릅니다.")
            en.append("You want different kinds of partners and ways of learning.")
    return _Part(_round1(score), Label(" ".join(ko), " ".join(en)))


def _codes(style_ids: Iterable[int]) -> list[str]:
    found = (reference.learning_style(i) for i in sorted(set(style_ids)))
    return [style.code for style in found if style is not None]


def _style_fit(a: list[str], b: list[str]) -> Fraction | None:
    """Mean over every pair of chosen styles; None when a side chose none."""
    if not a or not b:
        return None
    pairs = [_style_pair(x, y) for x in a for y in b]
    return Fraction(sum(pairs), len(pairs))


def _style_pair(a: str, b: str) -> int:
    if "BALANCED" in (a, b):
        return 75
    return 100 if a != b else 50


def _method(learner: LearnerProfile) -> str | None:
    return reference.normalize_code("communication_methods", learner.communication_method)


def _method_fit(a: str | None, b: str | None) -> Fraction | None:
    if a is None or b is None:
        return None
    if a == b:
        return Fraction(100)
    if "HYBRID" in (a, b):
        return Fraction(75)
    return Fraction(50) if {a, b} == {"VOICE", "VIDEO"} else Fraction(25)


# -- goals and interests -----------------------------------------------------------------


def _goals(
    me: LearnerProfile, partner: LearnerProfile
) -> tuple[_Part, tuple[int, ...], tuple[int, ...]]:
    """Dice over the pooled (catalogue, id) goals of the catalogues both learners answered."""
    pooled_a: set[tuple[str, int]] = set()
    pooled_b: set[tuple[str, int]] = set()
    shared: dict[str, tuple[int, ...]] = {"motivations": (), "expectations": ()}
    for name, a, b in (
        ("motivations", me.motivations, partner.motivations),
        ("expectations", me.learning_expectations, partner.learning_expectations),
    ):
        if a and b:
            pooled_a |= {(name, i) for i in a}
            pooled_b |= {(name, i) for i in b}
            shared[name] = tuple(sorted(set(a) & set(b)))
    if not pooled_a:
        part = _Part(
            NEUTRAL,
            Label(
                "학습 목표 데이터가 부족하여 기본 점수를 적용했습니다.",
                "Not enough goal data, so a neutral score was used.",
            ),
        )
        return part, (), ()
    common = len(pooled_a & pooled_b)
    description = (
        Label(
            f"공통 학습 목표가 {common}개 있어 학습 방향이 비슷합니다.",
            f"You share {common} learning goal(s), so you are heading the same way.",
        )
        if common
        else Label("학습 목표가 서로 겹치지 않습니다.", "Your learning goals do not overlap.")
    )
    part = _Part(_round1(_dice(pooled_a, pooled_b)), description)
    return part, shared["motivations"], shared["expectations"]


def _interests(me: LearnerProfile, partner: LearnerProfile) -> _Part:
    """Dice over topic ids; 50 when a side chose none."""
    a, b = set(me.topics), set(partner.topics)
    if not a or not b:
        return _Part(
            NEUTRAL,
            Label(
                "관심사 데이터가 부족하여 기본 점수를 적용했습니다.",
                "Not enough interest data, so a neutral score was used.",
            ),
        )
    common = len(a & b)
    description = (
        Label(
            f"공통 관심사가 {common}개 있어 자연스럽게 대화를 이어갈 수 있습니다.",
            f"You share {common} interest(s), so conversation can flow naturally.",
        )
        if common
        else Label(
            "겹치는 관심사가 없어 서로 새로운 주제를 소개할 수 있습니다.",
            "No shared interests yet: a chance to show each other new topics.",
        )
    )
    return _Part(_round1(_dice(a, b)), description)


# ======================================================================================
# Advanced-ranking helpers
# ======================================================================================


def availability_overlap(me: LearnerProfile, partner: LearnerProfile) -> float:
    """How much of the smaller weekly availability the other learner shares, 0..100 (0.1).

    Each schedule entry is a one-hour slot starting at ``class_time`` in the learner's own
    time zone, placed in the reference week (:data:`REFERENCE_MONDAY`) and converted to UTC
    minute-of-week (wrapping around the week). The result is the *overlap coefficient*
    ``|A∩B| / min(|A|,|B|) · 100`` in minutes: a partner only needs time the other also has,
    so a learner who offers many slots is not penalised for it, as Jaccard would do.

    50 when a side has no (parseable) schedule. A missing or unknown time zone takes the other
    learner's zone (i.e. wall-clock times are compared); both missing compares them as UTC.
    """
    zone_a, zone_b = _zone(me.timezone), _zone(partner.timezone)
    zone_a = zone_a or zone_b or UTC
    zone_b = zone_b or zone_a
    a, b = _utc_minutes(me.schedules, zone_a), _utc_minutes(partner.schedules, zone_b)
    if not a or not b:
        return NEUTRAL
    return _round1(Fraction(100 * len(a & b), min(len(a), len(b))))


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _utc_minutes(schedules: Iterable[tuple[str, str]], zone: tzinfo) -> frozenset[int]:
    """The UTC minutes of the reference week covered by the slots (entries that do not parse
    are skipped)."""
    week_start = REFERENCE_MONDAY.replace(tzinfo=UTC)
    minutes: set[int] = set()
    for day, class_time in schedules:
        code = reference.normalize_code("days_of_week", day)
        match = _TIME.match(class_time.strip())
        if code not in DAYS or match is None:
            continue
        local = REFERENCE_MONDAY + timedelta(
            days=DAYS.index(code), hours=int(match.group(1)), minutes=int(match.group(2))
        )
        start = int((local.replace(tzinfo=zone) - week_start).total_seconds()) // 60
        minutes.update((start + m) % WEEK_MINUTES for m in range(SLOT_MINUTES))
    return frozenset(minutes)


def level_fit(me: LearnerProfile, partner: LearnerProfile) -> float:
    """How close the two learners' levels are where they will talk, 0..100 (0.1).

    Compared pairs, each scoring ``max(0, 100 - 20·|ΔCEFR index|)`` (the AI matcher's formula),
    averaged:

    * every language both learn (they practise it together);
    * the exchange pair, when each learns the other's native language: my level in their
      language against their level in mine, so both halves of a session are pitched alike.

    A learner's CEFR for a language is the assessed ``cefr_level`` when it applies to that
    language, else the reference CEFR of the current level. Pairs with an unknown level are
    skipped (the original counted an unknown level as A1); no comparable pair gives 50.
    """
    mine, theirs = me.target_map(), partner.target_map()
    pairs = [
        (_cefr(me, mine[lang]), _cefr(partner, theirs[lang]))
        for lang in sorted(mine.keys() & theirs.keys())
    ]
    my_native, their_native = me.native_language_id, partner.native_language_id
    if (
        my_native is not None
        and their_native is not None
        and my_native in theirs
        and their_native in mine
    ):
        pairs.append((_cefr(me, mine[their_native]), _cefr(partner, theirs[my_native])))
    scores = [
        max(0, 100 - 20 * abs(_CEFR_INDEX[a] - _CEFR_INDEX[b]))
        for a, b in pairs
        if a is not None and b is not None
    ]
    if not scores:
        return NEUTRAL
    return _round1(Fraction(sum(scores), len(scores)))


def _cefr(learner: LearnerProfile, target: Target) -> str | None:
    assessed = learner.cefr_level
    if assessed in _CEFR_INDEX and learner.cefr_language_id in (None, target.language_id):
        return assessed
    level_id = target.current_level_id or target.target_level_id
    found = reference.language_level(level_id) if level_id is not None else None
    return found.cefr if found else None


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two embeddings, -1..1 (unrounded; scale by 100 for a score).
    0.0 when either vector is all zeros. Vectors of different lengths are an error."""
    if len(a) != len(b):
        raise ValueError(f"embedding lengths differ: {len(a)} != {len(b)}")
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(y * y for y in b))
    if norm_a == 0 or norm_b == 0:
        return 0.0
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return max(-1.0, min(1.0, dot / (norm_a * norm_b)))


# ======================================================================================
# Rounding
# ======================================================================================


def _exact(value: float) -> Fraction:
    """A float as the decimal it prints as (66.7 -> 667/10, not the binary approximation)."""
    return Fraction(Decimal(repr(value)))


def _round1(value: Fraction | float) -> float:
    """Half-up to one decimal on the exact value (the original's ``Math.round(x*10)/10``).

    Decimal does this exactly and, unlike Fraction, in C: search scores hundreds of
    candidates per request."""
    if isinstance(value, Fraction):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        exact = Decimal(repr(value))
    return float(exact.quantize(_TENTH, rounding=ROUND_HALF_UP))


def semantic_similarity(a: Sequence[float] | None, b: Sequence[float] | None) -> float | None:
    """How alike two profile documents read, 0..100 (0.1): the cosine of their unit sentence
    vectors, negatives clipped to 0 (opposite meaning is no better than unrelated for
    matching). ``None`` when either vector has not been computed yet."""
    if a is None or b is None:
        return None
    return _round1(Fraction(max(0.0, cosine(a, b))) * 100)


def explain_factors(scores: Mapping[str, float | None], lang: str = "ko") -> dict[str, str]:
    """One sentence per advanced-ranking factor that is not already a rule-based category,
    saying what its number means for these two learners."""
    code = reference.normalize_lang(lang)
    level = scores.get("levelCompatibility")
    schedule = scores.get("scheduleCompatibility")
    semantic = scores.get("semanticSimilarity")
    notes: dict[str, Label] = {}
    if level is not None:
        steps = round((100 - level) / 20, 1)
        notes["levelCompatibility"] = (
            Label("비교할 CEFR 레벨이 없습니다.", "No CEFR levels to compare yet.")
            if level == NEUTRAL
            else Label(
                f"대화할 언어의 CEFR 레벨 차이가 평균 {steps}단계입니다.",
                f"Your CEFR levels in the languages you will speak differ by {steps} steps"
                " on average.",
            )
        )
    if schedule is not None:
        notes["scheduleCompatibility"] = Label(
            f"시간대를 맞춰 보면 주간 가능 시간의 {schedule}%가 겹칩니다.",
            f"After converting time zones, {schedule}% of your weekly availability overlaps.",
        )
    notes["semanticSimilarity"] = (
        Label(
            "자기소개 분석이 아직 없어 이 요소는 제외했습니다.",
            "Profile texts are not analysed yet, so this factor was left out.",
        )
        if semantic is None
        else Label(
            f"자기소개, 관심사, 목표의 의미 유사도는 {semantic}점입니다.",
            f"Your bios, interests and goals read {semantic}% alike in meaning.",
        )
    )
    return {factor: label.get(code) for factor, label in notes.items()}
