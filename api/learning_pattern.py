"""The learning pattern (``GET /analytics/learning-pattern``) in the shape the profile page
renders, in the reader's language.

The original asked a language model for consistency, insights and a learning path and, as
its calls failed, showed constants. Here every number is measured (sessions, minutes,
active days, messages, level-test results) and every sentence states a measurement or a
rule applied to one; where nothing was measured the field is ``null`` or an empty list.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from domain import reference
from domain.achievement_catalog import DEFINITIONS
from domain.achievements import longest_run
from domain.analytics import (
    Activity,
    LevelResult,
    consistency,
    level_rank,
    months_per_level,
    next_level,
    observed_span,
    part_of_day,
    per_week,
    trend,
)
from domain.level_tests import CEFR_LEVELS
from domain.reference import Label, Lang
from projections.sessions import streak_days

_L = Label
PARTS = {"night": _L("밤", "night"), "morning": _L("오전", "morning"),
         "afternoon": _L("오후", "afternoon"), "evening": _L("저녁", "evening")}  # fmt: skip
AREAS = {
    "pronunciation": _L("발음", "Pronunciation"), "fluency": _L("유창성", "Fluency"),
    "grammar": _L("문법", "Grammar"), "vocabulary": _L("어휘", "Vocabulary"),
    "coherence": _L("논리적 연결", "Coherence"), "interaction": _L("상호작용", "Interaction"),
}  # fmt: skip
TIPS = {
    "pronunciation": (
        _L("파트너에게 발음 교정을 부탁하세요", "Ask your partner to correct sounds"),
        _L("짧은 문장을 따라 말해 보세요", "Shadow short sentences aloud"),
    ),
    "fluency": (
        _L("쉬지 않고 1분 말하기를 연습하세요", "Practise speaking for a minute non-stop"),
        _L("자주 쓰는 표현을 미리 준비하세요", "Prepare phrases you use often"),
    ),
    "grammar": (
        _L("접속사로 문장을 이어 보세요", "Join sentences with because, although, when"),
        _L("세션 후 틀린 문장을 다시 써 보세요", "Rewrite wrong sentences after a session"),
    ),
    "vocabulary": (
        _L("세션 주제의 단어를 미리 익히세요", "Learn a session topic's words beforehand"),
        _L("같은 단어를 반복하지 않도록 해 보세요", "Try not to repeat the same words"),
    ),
    "coherence": (
        _L("첫째, 그리고, 마지막으로 같은 연결어를 쓰세요", "Use first, then, finally"),
        _L("이야기를 시간 순서로 말해 보세요", "Tell stories in the order things happened"),
    ),
    "interaction": (
        _L("파트너에게 질문을 더 해 보세요", "Ask your partner more questions"),
        _L("답을 두세 문장으로 늘려 보세요", "Make answers two or three sentences long"),
    ),
}
MODES = {"videoSessions": _L("화상 세션", "Video sessions"),
         "audioSessions": _L("음성 세션", "Audio sessions"),
         "textSessions": _L("채팅", "Chat")}  # fmt: skip
TEXT = {
    "sessions": _L("최근 {months}개월 동안 세션 {count}회, {minutes}분을 연습했어요",
                   "{count} sessions, {minutes} minutes of practice in the last {months} months"),
    "time": _L("주로 {part}에 연습해요", "You practise mostly in the {part}"),
    "messages": _L("채팅 메시지 {count}개를 보냈어요", "You sent {count} chat messages"),
    "level_move": _L("{language}: {first}에서 {last}(으)로", "{language}: from {first} to {last}"),
    "streak": _L("최장 연속 학습: {days}일", "Longest streak: {days} days"),
    "take_test": _L("레벨 테스트를 보면 실력 변화를 측정할 수 있어요",
                    "Take a level test so your progress can be measured"),
    "weekly": _L("일주일에 한 번 이상 파트너와 세션을 잡아 보세요",
                 "Plan at least one session a week with a partner"),
    "focus": _L("{area}에 집중하세요: {tip}", "Focus on {area}: {tip}"),
    "restart": _L("오늘 세션을 하면 새 연속 기록이 시작돼요",
                  "A session today starts a new streak"),
    "remaining": _L("지금 속도(주 {pace})라면 {remaining} 남았어요",
                    "{remaining} to go at your pace of {pace} a week"),
    "reach_in": _L("{language} {level} 달성", "Reach {level} in {language}"),
    "per_week_goal": _L("일주일에 세션 {count}회", "{count} sessions a week"),
    "test_goal": _L("스피킹 레벨 테스트 보기", "Take a speaking level test"),
    "improve": _L("{area} 향상", "Improve {area}"),
    "one_to_one": _L("파트너와 1:1 세션", "1:1 sessions with your partners"),
    "chat": _L("세션 사이에 채팅하기", "Chat between sessions"),
    "level_test": _L("레벨 테스트", "Level test"),
    "monthly_test": _L("매달 레벨 테스트로 확인하기", "A level test every month"),
    "latest": _L("최근 결과 {score}점", "Latest result: {score}/100"),
    "idle": _L("14일 넘게 활동이 없어요", "No activity for more than 14 days"),
    "irregular": _L("학습 일관성이 30% 미만이에요", "Practice on fewer than 30% of days"),
}  # fmt: skip
IDLE_DAYS = 14
LOW_CONSISTENCY = 0.3


def _say(key: str, lang: Lang, **values: Any) -> str:
    return TEXT[key].get(lang).format(**values)


def describe(activity: Activity, now: datetime, months_back: int, lang: Lang) -> dict[str, Any]:
    """The pattern of the last ``months_back`` months (30 days each) up to ``now``."""
    today = now.date()
    start = today - timedelta(days=30 * months_back - 1)
    since = datetime.combine(start, time(), activity.zone)
    sessions = activity.sessions_since(since)
    days = activity.days(start, today)
    active = activity.active_days()
    span = observed_span(active, start, today)
    habits = {
        "sessionsPerWeek": per_week(len(sessions), span),
        "averageSessionDuration": round(sum(s.minutes for s in sessions) / len(sessions))
        if sessions else None,
        "consistency": consistency(active, start, today),
        "messagesPerWeek": per_week(sum(d.messages for d in days), span),
        "activeDays": sum(1 for d in days if d.sessions or d.messages),
        **_times(activity, sessions, lang),
    }  # fmt: skip
    latest = activity.levels[-1] if activity.levels else None
    strengths, weaknesses = _areas(activity.levels, lang)
    engagement = _engagement(activity, sessions, days, habits["consistency"], today, lang)
    return {
        "period": {"monthsBack": months_back, "from": start.isoformat(),
                   "to": today.isoformat(), "timeZone": str(activity.zone)},
        "studyHabits": habits,
        "progress": _progress(activity, today),
        "strengths": strengths,
        "weaknesses": weaknesses,
        "learningStyle": _style(sessions, sum(1 for d in days if d.messages), lang),
        "engagement": engagement,
        "insights": {
            "keyFindings": _findings(activity, sessions, days, months_back, lang),
            "recommendations": _recommendations(activity, habits["sessionsPerWeek"], today,
                                                lang),
            "milestones": _milestones(activity, sessions, span, today, lang),
        },
        "personalizedPath": _path(latest, habits["sessionsPerWeek"], weaknesses,
                                  months_per_level(activity.levels), lang),
    }  # fmt: skip


def _times(activity: Activity, sessions: list[Any], lang: Lang) -> dict[str, Any]:
    minutes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for s in sessions:
        part = part_of_day(activity.local(s.started_at))
        minutes[part] += s.minutes
        counts[part] += 1
    slots = [{"slot": part, "label": PARTS[part].get(lang), "sessions": counts[part],
              "minutes": total} for part, total in minutes.most_common()]  # fmt: skip
    return {"mostProductiveTime": slots[0]["label"] if slots else None,
            "preferredTimeSlots": slots}  # fmt: skip


def _progress(activity: Activity, today: date) -> dict[str, Any]:
    levels = activity.levels
    latest = levels[-1] if levels else None
    same = [r for r in levels if latest and r.language == latest.language]
    firsts = [activity.local(r.assessed_at).date() for r in levels[:1]]
    first = min(firsts + sorted(activity.active_days())[:1], default=None)
    pace = months_per_level(levels)
    upcoming = next_level(latest.level) if latest else None
    return {
        "currentLevel": latest.level if latest else None,
        "startingLevel": same[0].level if same else None,
        "language": latest.language if latest else None,
        "monthsLearning": max(1, math.ceil(((today - first).days + 1) / 30)) if first else None,
        "levelsGained": level_rank(latest.level) - level_rank(same[0].level) if latest else None,
        "levelHistory": [{"date": activity.local(r.assessed_at).date().isoformat(),
                          "language": r.language, "level": r.level, "overallScore": r.overall}
                         for r in levels],
        "projection": {"nextLevel": upcoming,
                       "estimatedMonths": math.ceil(pace) if pace and upcoming else None},
    }  # fmt: skip


def _areas(levels: list[LevelResult], lang: Lang) -> tuple[list[Any], list[Any]]:
    """Strong and weak areas of the latest result (as the scorer flagged them), with the
    move since the previous result in the same language."""
    if not levels:
        return [], []
    latest = levels[-1]
    earlier = [r for r in levels[:-1] if r.language == latest.language]
    previous = earlier[-1].scores if earlier else {}

    def view(area: str) -> dict[str, Any]:
        score = latest.scores.get(area, 0)
        return {"area": AREAS[area].get(lang) if area in AREAS else area, "key": area,
                "score": score, "trend": trend(score, previous.get(area)),
                "details": _say("latest", lang, score=score)}  # fmt: skip

    weak = [view(a) | {"recommendations": [t.get(lang) for t in TIPS.get(a, ())]}
            for a in latest.improvements]  # fmt: skip
    return [view(a) for a in latest.strengths], weak


def _style(sessions: list[Any], chat_days: int, lang: Lang) -> dict[str, Any]:
    """Group sessions are video calls, so they count as video sessions; a day with chat
    messages counts as one text session."""
    kinds = Counter(s.kind for s in sessions)
    engagement = {"videoSessions": kinds["VIDEO"] + kinds["GROUP"],
                  "audioSessions": kinds["AUDIO"], "textSessions": chat_days}  # fmt: skip
    top = max(engagement.values())
    return {
        "primary": [MODES[m].get(lang) for m, n in engagement.items() if n and n == top],
        "engagement": engagement,
        "preferredActivities": [MODES[m].get(lang) for m, n in
                                sorted(engagement.items(), key=lambda kv: -kv[1]) if n],
    }  # fmt: skip


def _engagement(activity: Activity, sessions: list[Any], days: list[Any],
                share: float | None, today: date, lang: Lang) -> dict[str, Any]:  # fmt: skip
    last_active = max(activity.active_days(), default=None)
    risks = []
    if last_active is not None and (today - last_active).days > IDLE_DAYS:
        risks.append(_say("idle", lang))
    if share is not None and share < LOW_CONSISTENCY:
        risks.append(_say("irregular", lang))
    return {
        "overallScore": round(share * 100) if share is not None else None,
        "initiativeLevel": round(100 * sum(s.hosted for s in sessions) / len(sessions))
        if sessions else None,
        "activeDays": sum(1 for d in days if d.sessions or d.messages),
        "sessionsCompleted": len(sessions),
        "minutesPracticed": sum(s.minutes for s in sessions),
        "messagesSent": sum(d.messages for d in days),
        "partners": len({s.partner_id for s in sessions if s.partner_id}),
        "riskFactors": risks,
    }  # fmt: skip


def _language(code: str, lang: Lang) -> str:
    found = reference.language_by_code(code)
    return found.label.get(lang) if found else code


def _findings(activity: Activity, sessions: list[Any], days: list[Any], months: int,
              lang: Lang) -> list[str]:  # fmt: skip
    found = []
    if sessions:
        minutes = sum(s.minutes for s in sessions)
        found.append(_say("sessions", lang, months=months, count=len(sessions), minutes=minutes))
        part = Counter(part_of_day(activity.local(s.started_at)) for s in sessions)
        found.append(_say("time", lang, part=PARTS[part.most_common(1)[0][0]].get(lang)))
    if messages := sum(d.messages for d in days):
        found.append(_say("messages", lang, count=messages))
    for language in dict.fromkeys(r.language for r in activity.levels):
        results = [r for r in activity.levels if r.language == language]
        if len(results) > 1:
            name, first, last = _language(language, lang), results[0].level, results[-1].level
            found.append(_say("level_move", lang, language=name, first=first, last=last))
    if (best := longest_run(activity.session_days())) > 1:
        found.append(_say("streak", lang, days=best))
    return found


def _recommendations(activity: Activity, pace: float | None, today: date,
                     lang: Lang) -> list[str]:  # fmt: skip
    advice = []
    if not activity.levels:
        advice.append(_say("take_test", lang))
    if pace is None or pace < 1:
        advice.append(_say("weekly", lang))
    if activity.levels:
        scores = activity.levels[-1].scores
        weakest = min((a for a in scores if a in TIPS), key=lambda a: scores[a], default=None)
        if weakest is not None:
            tip = TIPS[weakest][0].get(lang)
            advice.append(_say("focus", lang, area=AREAS[weakest].get(lang), tip=tip))
    if activity.sessions and streak_days(activity.session_days(), today) == 0:
        advice.append(_say("restart", lang))
    return advice


def _priority(days: int) -> str:
    return "high" if days <= 14 else "medium" if days <= 42 else "low"


def _milestones(activity: Activity, sessions: list[Any], span: int | None, today: date,
                lang: Lang) -> list[dict[str, Any]]:  # fmt: skip
    """The next session-count and practice-time achievements, dated by the measured
    weekly pace; none while there is no pace to go by."""
    done = {"sessions": len(activity.sessions),
            "minutes": sum(s.minutes for s in activity.sessions)}  # fmt: skip
    pace = {"sessions": per_week(len(sessions), span),
            "minutes": per_week(sum(s.minutes for s in sessions), span)}  # fmt: skip
    found = []
    for metric, total in done.items():
        upcoming = [d for d in DEFINITIONS if d.metric == metric and d.target > total]
        rate = pace[metric]
        if not upcoming or not rate:
            continue
        goal = min(upcoming, key=lambda d: d.target)
        remaining = goal.target - total
        days = math.ceil(round(remaining / rate * 7, 6))  # 15.000000000000002 is 15 days
        found.append({
            "title": goal.title.get(lang),
            "description": _say("remaining", lang, remaining=f"{remaining} {goal.unit}",
                                pace=f"{rate} {goal.unit}"),
            "priority": _priority(days),
            "targetDate": (today + timedelta(days=days)).isoformat(),
        })  # fmt: skip
    return found


def _path(latest: LevelResult | None, pace: float | None, weaknesses: list[dict[str, Any]],
          months: float | None, lang: Lang) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Goals from the measured state: a weekly rhythm a little above the current pace, a
    first level test or the weakest area; the next CEFR levels, with months only when a
    pace of levels has been measured."""
    weekly = _say("per_week_goal", lang, count=max(1, math.ceil(pace or 0)))
    short = [{"goal": weekly, "activities": [_say("one_to_one", lang), _say("chat", lang)],
              "estimatedWeeks": 4}]  # fmt: skip
    if latest is None:
        short.append({"goal": _say("test_goal", lang), "activities": [_say("level_test", lang)],
                      "estimatedWeeks": 1})  # fmt: skip
    for weak in weaknesses[:1]:
        short.append({"goal": _say("improve", lang, area=weak["area"]),
                      "activities": weak["recommendations"], "estimatedWeeks": 4})  # fmt: skip
    medium: list[dict[str, Any]] = []
    long: list[dict[str, Any]] = []
    if latest is not None:
        rank = level_rank(latest.level)
        language = _language(latest.language, lang)
        for steps, target in ((1, medium), (2, long)):
            if rank + steps <= len(CEFR_LEVELS):
                level = CEFR_LEVELS[rank + steps - 1]
                target.append({
                    "goal": _say("reach_in", lang, level=level, language=language),
                    "activities": [_say("one_to_one", lang), _say("monthly_test", lang)],
                    "estimatedMonths": math.ceil(months * steps) if months else None,
                })  # fmt: skip
    return {"shortTerm": short, "mediumTerm": medium, "longTerm": long}
