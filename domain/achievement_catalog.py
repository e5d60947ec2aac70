"""The achievements a learner can earn: the 14 definitions shipped with the backend.

They follow the original's 15 defaults (domain notes 1.9), translated and made reachable:
every target is a measure the server derives from events (sessions completed, minutes,
streaks, matched partners, CEFR levels from level tests), never a number a client reports.
The level achievements are defined on the CEFR scale of ``leveltest.LevelAssessed`` (the
original's "level 5/10" had no XP-to-level rule to reach them), and ``early_adopter`` is
left out: it had no target and could never be completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.reference import Label, Lang

Metric = Literal[
    "sessions", "minutes", "best_streak", "best_week_days", "partners", "levels_gained",
    "best_level",
]  # fmt: skip
"""What an achievement counts. ``best_streak``: most consecutive days with a completed
session; ``best_week_days``: most days with a session in one Monday-to-Sunday week;
``levels_gained``: most CEFR levels above a language's first result; ``best_level``: the
highest CEFR level assessed (A1 = 1 ... C2 = 6)."""
Category = Literal["STUDY", "STREAK", "SOCIAL"]
Tier = Literal["BRONZE", "SILVER", "GOLD", "PLATINUM"]
Kind = Literal["COUNT", "STREAK", "ACCUMULATE", "THRESHOLD", "COMBINATION"]
CATEGORIES: tuple[Category, ...] = ("STUDY", "STREAK", "SOCIAL")


@dataclass(frozen=True, slots=True)
class Definition:
    key: str
    title: Label
    description: Label
    category: Category
    kind: Kind
    tier: Tier
    metric: Metric
    target: int
    unit: str
    xp: int
    badge_color: str


_L = Label
DEFINITIONS: tuple[Definition, ...] = (
    Definition("first_session", _L("첫 세션 완료", "First session"),
               _L("첫 번째 세션을 끝까지 진행하세요.", "Complete your first session."),
               "STUDY", "COUNT", "BRONZE", "sessions", 1, "sessions", 100, "#CD7F32"),
    Definition("session_10", _L("세션 마스터", "Session regular"),
               _L("세션 10회를 완료하세요.", "Complete 10 sessions."),
               "STUDY", "COUNT", "SILVER", "sessions", 10, "sessions", 500, "#A8A9AD"),
    Definition("session_50", _L("세션 전문가", "Session expert"),
               _L("세션 50회를 완료하세요.", "Complete 50 sessions."),
               "STUDY", "COUNT", "GOLD", "sessions", 50, "sessions", 2000, "#D4AF37"),
    Definition("streak_7", _L("일주일 연속", "Seven-day streak"),
               _L("7일 연속으로 세션을 완료하세요.", "Complete a session on 7 days in a row."),
               "STREAK", "STREAK", "SILVER", "best_streak", 7, "days", 750, "#A8A9AD"),
    Definition("streak_30", _L("한 달 연속", "Thirty-day streak"),
               _L("30일 연속으로 세션을 완료하세요.", "Complete a session on 30 days in a row."),
               "STREAK", "STREAK", "GOLD", "best_streak", 30, "days", 3000, "#D4AF37"),
    Definition("perfect_week", _L("완벽한 한 주", "Perfect week"),
               _L("월요일부터 일요일까지 매일 세션을 완료하세요.",
                  "Complete a session on every day of one week, Monday to Sunday."),
               "STREAK", "COMBINATION", "PLATINUM", "best_week_days", 7, "days", 2000,
               "#7F9BB3"),
    Definition("first_friend", _L("첫 친구", "First partner"),
               _L("첫 언어 교환 파트너와 매칭되세요.", "Match with your first exchange partner."),
               "SOCIAL", "COUNT", "BRONZE", "partners", 1, "partners", 200, "#CD7F32"),
    Definition("friends_5", _L("인기쟁이", "Popular partner"),
               _L("파트너 5명과 매칭되세요.", "Match with 5 different partners."),
               "SOCIAL", "COUNT", "SILVER", "partners", 5, "partners", 1000, "#A8A9AD"),
    Definition("study_hours_10", _L("10시간 달성", "10 hours of practice"),
               _L("세션에서 10시간(600분)을 연습하세요.",
                  "Practise for 10 hours (600 minutes) in sessions."),
               "STUDY", "ACCUMULATE", "BRONZE", "minutes", 600, "minutes", 500, "#CD7F32"),
    Definition("study_hours_50", _L("50시간 달성", "50 hours of practice"),
               _L("세션에서 50시간(3000분)을 연습하세요.",
                  "Practise for 50 hours (3000 minutes) in sessions."),
               "STUDY", "ACCUMULATE", "SILVER", "minutes", 3000, "minutes", 2500, "#A8A9AD"),
    Definition("study_hours_100", _L("100시간 달성", "100 hours of practice"),
               _L("세션에서 100시간(6000분)을 연습하세요.",
                  "Practise for 100 hours (6000 minutes) in sessions."),
               "STUDY", "ACCUMULATE", "GOLD", "minutes", 6000, "minutes", 5000, "#D4AF37"),
    Definition("level_up_first", _L("첫 레벨업", "First level up"),
               _L("한 언어의 레벨 테스트에서 첫 결과보다 높은 CEFR 레벨을 받으세요.",
                  "Get a higher CEFR level than your first level test in a language."),
               "STUDY", "THRESHOLD", "BRONZE", "levels_gained", 1, "levels", 300, "#CD7F32"),
    Definition("level_b1", _L("중급자", "Intermediate"),
               _L("레벨 테스트에서 B1 이상을 받으세요.",
                  "Be assessed at B1 or above in a level test."),
               "STUDY", "THRESHOLD", "SILVER", "best_level", 3, "CEFR level (A1 = 1)", 1500,
               "#A8A9AD"),
    Definition("level_c1", _L("고급자", "Advanced"),
               _L("레벨 테스트에서 C1 이상을 받으세요.",
                  "Be assessed at C1 or above in a level test."),
               "STUDY", "THRESHOLD", "GOLD", "best_level", 5, "CEFR level (A1 = 1)", 5000,
               "#D4AF37"),
)  # fmt: skip
BY_KEY: dict[str, Definition] = {d.key: d for d in DEFINITIONS}


def title_of(key: str, lang: Lang) -> str:
    """An achievement's title in ``lang`` (the key itself for an unknown one)."""
    found = BY_KEY.get(key)
    return found.title.get(lang) if found else key
