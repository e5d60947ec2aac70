"""Learners join the demo: who they are, sign-up and onboarding, the level test in text."""

from __future__ import annotations

import random
from collections.abc import Callable

from app.demo import content
from app.demo.world import Learner, World
from commands import level_tests, profiles
from commands.base import CommandContext
from commands.identity import sign_in
from domain import reference
from domain.level_tests import voice_question
from domain.profiles import ScheduleEntry, TargetLanguage
from workers import cefr_scorer

FIRST_DAY_USERS = 2
"""Learners who join on the first day (the others within the first half of the days)."""
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
TEXT_ANSWERS = CommandContext(actor_id="demo.text-answers")
"""Who records the transcripts and the assessment of text answers (a worker's part)."""


def plan(rng: random.Random, users: int, days: int) -> list[Learner]:
    """Who the learners are and on which day each joins (two on the first day, the others
    within the first half of the days). Language pairs go round in a shuffled order, and
    the learners of each language spread over the levels in one, so even a small demo
    has beginners and advanced learners side by side."""
    names = {language: rng.sample(given, len(given)) for language, given in content.NAMES.items()}
    pairs = rng.sample(content.PAIRS, len(content.PAIRS))
    levels = rng.sample(range(5), 5)
    learners: list[Learner] = []
    for index in range(users):
        native, target = pairs[index % len(pairs)]
        compatriots = sum(1 for x in learners if x.native == native)
        name = names[native][compatriots % len(names[native])]
        peers = sum(1 for x in learners if x.target == target)
        joins = 0 if index < FIRST_DAY_USERS else rng.randrange(max(1, (days + 1) // 2))
        learners.append(Learner(name=name, email=f"{name.lower()}.{index + 1}@demo.example.com",
                                native=native, target=target,
                                level_id=100 + levels[peers % len(levels)],
                                onboard_day=joins))  # fmt: skip
    return learners


def onboard(world: World, learner: Learner) -> None:
    """Sign up (dev sign-in) and go through every onboarding step."""
    outcome = sign_in(world.rt.bus, CommandContext(), pepper=world.rt.pepper,
                      email=learner.email, name=learner.name, provider="dev")  # fmt: skip
    learner.user_id = outcome.result["user_id"]
    world.clock.tick()
    bus, ctx, user, rng = world.rt.bus, learner.ctx, learner.user_id, world.rng
    country = content.COUNTRY[learner.native]
    home = next((x.id for x in reference.locations() if x.country_code == country), 1)
    steps: list[Callable[[], object]] = [
        lambda: profiles.update_profile(bus, ctx, profiles.UpdateProfile(
            user_id=user, english_name=learner.name, location_id=home,
            bio=rng.choice(content.BIOS))),
        lambda: profiles.set_gender(bus, ctx, profiles.SetGender(
            user_id=user, gender=rng.choice(("FEMALE", "MALE", "NOT_SPECIFIED")))),
        lambda: profiles.set_birth_year(bus, ctx, profiles.SetBirthYear(
            user_id=user, year=rng.randrange(1975, 2006), current_year=world.clock.now.year)),
        lambda: profiles.set_native_language(bus, ctx, profiles.SetNativeLanguage(
            user_id=user, language_id=learner.native)),
        lambda: profiles.set_language_levels(bus, ctx, profiles.SetLanguageLevels(
            user_id=user, languages=[TargetLanguage(
                language_id=learner.target, current_level_id=learner.level_id,
                target_level_id=learner.level_id + 1)])),
        lambda: profiles.choose_interests(bus, ctx, profiles.ChooseInterests(
            user_id=user, kind="motivations", ids=rng.sample(range(1, 10), 2))),
        lambda: profiles.choose_interests(bus, ctx, profiles.ChooseInterests(
            user_id=user, kind="topics", ids=rng.sample(range(1, 10), 3))),
        lambda: profiles.prefer_partner(bus, ctx, profiles.PreferPartner(
            user_id=user, gender="ANY", personality_ids=rng.sample(range(1, 6), 2))),
        lambda: profiles.prefer_study(bus, ctx, profiles.PreferStudy(
            user_id=user, communication_method=rng.choice(("VIDEO", "VOICE", "HYBRID")),
            group_size_ids=[rng.randrange(1, 5)],
            daily_minutes=rng.choice(("MINUTES_15", "MINUTES_30", "MINUTES_60")))),
        lambda: profiles.set_schedule(bus, ctx, profiles.SetSchedule(
            user_id=user, schedules=[ScheduleEntry(
                day_of_week=day, class_time=f"{rng.randrange(7, 22):02d}:00")
                for day in rng.sample(WEEKDAYS, 2)])),
        lambda: profiles.complete_onboarding(bus, ctx, profiles.CompleteOnboarding(
            user_id=user)),
    ]  # fmt: skip
    for step in steps:
        step()
        world.clock.tick()
    world.counts["onboarded"] += 1


def take_level_test(world: World, learner: Learner) -> None:
    """The voice test answered in text, for learners of English (the language whose
    answers the scorer is calibrated on); each answers near their own level."""
    if learner.target != content.ENGLISH:
        return
    bus, ctx, user = world.rt.bus, learner.ctx, learner.user_id
    # Six answers (A1 to B2 as scored) over five self-assessed levels (A1 to C1), give or
    # take one: learners misjudge themselves, so the measured levels differ from theirs.
    near = round((learner.level_id - 100) * 1.25) + world.rng.choice((-1, 0, 0, 1))
    answer = content.ANSWERS[min(max(near, 0), len(content.ANSWERS) - 1)]
    started = level_tests.start_test(bus, ctx, user_id=user, language="en", mode="voice",
                                     self_reported_level=answer.self_reported)  # fmt: skip
    test_id = started.result["test_id"]
    recording = f"demo/level-tests/{test_id}/1.txt"
    seconds = round(len(answer.text.split()) / 2.2, 1)  # about 130 words a minute
    world.clock.tick()
    level_tests.record_answer(bus, ctx, user_id=user, test_id=test_id, question_id=1,
                              recording=recording, media_type="text/plain",
                              duration=seconds, size=len(answer.text.encode()))  # fmt: skip
    level_tests.record_transcript(bus, TEXT_ANSWERS, test_id, question_id=1,
                                  recording=recording, text=answer.text, words="[]",
                                  language="en", duration=seconds, model="text-answer",
                                  model_version="demo")  # fmt: skip
    level_tests.request_analysis(bus, ctx, user_id=user, test_id=test_id)
    prompt = voice_question(answer.self_reported).prompt
    result = cefr_scorer.assess([cefr_scorer.Answer(prompt, answer.text, [])], "en")
    result["model_versions"] = {"asr": "none (text answer)", "scorer": result["scorer_version"],
                                "embeddings": "none", "llm": "none"}  # fmt: skip
    world.clock.tick()
    level_tests.record_assessment(bus, TEXT_ANSWERS, test_id, result)
    world.counts["level_tests"] += 1
