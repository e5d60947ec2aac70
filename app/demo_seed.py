"""``languagemate demo seed``: a living platform built through the real commands.

Learners across language pairs and levels sign up (dev sign-in), onboard, take the level
test, match, chat and meet in 1:1 and group sessions over ``days`` of simulated time that
ends yesterday. Everything goes through ``commands/``, never into a read model: the
projections and the policies (direct rooms for matches, assessed levels, achievements,
notifications) follow from the events exactly as they do on a live server, so the
dashboard, analytics and the SPA show what a real history would give them.

Simulated time is the command bus's clock: each day's activity happens at its hour of that
day (events carry it as ``occurred_at``), and the command policies catch up at the end of
each step under the same clock. The level test is answered in text: the seeder records each
answer and its transcript itself (the part a speech model plays for audio) and the real
CEFR scorer rates the text, so the levels are measured, not declared.

``seed`` choices come from ``random.Random(seed)`` alone, so one seed gives the same
learners, answers, levels and matches on every fresh store (ids of rooms and sessions are
random, as on a live server). It seeds only an empty store: on anything else it refuses
(``NotEmpty``) and appends nothing, since a second run would meet its own learners.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from app import demo_content as content
from app.runtime import Runtime
from commands import chat, level_tests, matching, profiles, sessions
from commands.base import CommandContext
from commands.identity import sign_in
from domain import reference
from domain.aggregate import Cause
from domain.chat import direct_room_id
from domain.level_tests import voice_question
from domain.matching import MatchPair, pair_id
from domain.profiles import ScheduleEntry, TargetLanguage
from eventflow.schema import LOG
from policies.groups import CommandGroup
from workers import cefr_scorer

FIRST_DAY_USERS = 2
"""Learners who join on the first day (the others within the first half of the days)."""
MATCHES_EACH = 2
"""How many partners a learner looks for."""


class NotEmpty(Exception):
    """The store holds events already: the demo builds a platform from nothing."""


class SimulatedClock:
    """The bus's clock during seeding; moved forward by the seeder, never backwards.

    A day is a sequence of phases, each in its own window of hours; the actions of a phase
    are spread evenly over its window (at most ``MAX_STEP`` apart), however many learners
    there are, so no phase runs into the next: a session booked for 19:00 is started at
    19:00, not after the chat of a large platform ran late."""

    MAX_STEP = timedelta(minutes=3)

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.step = self.MAX_STEP

    def __call__(self) -> datetime:
        return self.now

    def phase(self, start: datetime, end: datetime, actions: int) -> None:
        """Move to ``start`` (if not past it) and pace ``actions`` ticks to end by ``end``."""
        self.now = max(self.now, start)
        self.step = min(max(end - self.now, timedelta()) / max(actions, 1), self.MAX_STEP)

    def tick(self) -> None:
        self.now += self.step

    def later(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)


@dataclass
class Learner:
    name: str
    email: str
    native: int
    target: int
    level_id: int
    """Self-assessed current level in the target language (100 = A1 ... 104 = C1)."""
    onboard_day: int
    user_id: str = ""
    """Known once signed up."""

    @property
    def ctx(self) -> CommandContext:
        return CommandContext(actor_id=self.user_id)


@dataclass
class Seeder:
    rt: Runtime
    rng: random.Random
    clock: SimulatedClock
    learners: list[Learner] = field(default_factory=list)
    pairs: set[frozenset[str]] = field(default_factory=set)
    """Pairs that have met through a request (matched, pending or rejected)."""
    matched: list[tuple[Learner, Learner]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    # -- the days -------------------------------------------------------------------------
    def day(self, index: int, midnight: datetime, last: bool) -> None:
        def phase(start: float, end: float, actions: int = 1) -> None:
            self.clock.phase(midnight + timedelta(hours=start), midnight + timedelta(hours=end),
                             actions)  # fmt: skip

        active = [learner for learner in self.learners if learner.onboard_day < index]
        joining = [learner for learner in self.learners if learner.onboard_day == index]
        phase(8, 8.9, 2 * len(self.matched) + 1)
        dates = self.schedule_sessions(active, midnight + timedelta(hours=19))
        group = self.create_group_session(active, index, midnight + timedelta(hours=20))
        phase(9, 11.4, 16 * len(joining))
        for learner in joining:
            self.onboard(learner)
            self.take_level_test(learner)
        phase(11.5, 11.9, 6)
        self.join_group_session(group, active)
        phase(12, 14.9, len(self.learners))
        requests = self.send_requests([x for x in self.learners if x.onboard_day <= index])
        phase(15, 16.9, len(requests))
        self.answer_requests(requests)
        self.settle()  # the direct rooms of the new matches open
        phase(17, 18.75, 4 * len(self.matched))
        self.chat()
        phase(19, 19.5)
        self.hold_sessions(dates, minutes=30)
        phase(20, 21)
        self.hold_group_session(group, minutes=60)
        if last:
            phase(21.5, 22.5, 2 * len(self.matched))
            self.schedule_sessions(active, midnight + timedelta(days=2, hours=19))
        phase(23, 24)
        self.settle()

    def settle(self) -> None:
        """Bring the read models and the command policies up to the log's head, until the
        policies' own commands cause nothing more (what ``serve`` does in the background)."""
        groups = [g for g in self.rt.policy_groups() if isinstance(g, CommandGroup)]
        while True:
            head = self.rt.store.max_position()
            self.rt.catch_up()
            for group in groups:
                self.react(group, head)
            if self.rt.store.max_position() == head:
                return

    def react(self, group: CommandGroup, head: int) -> None:
        """Run a policy group's reactions up to ``head``. Progress over events it has no
        reaction to is kept in memory between the group's writes, so it is recorded
        (``maintain`` closing) after each step before the group's position is read."""
        runner = self.rt.runner(group, kafka=False)
        source = self.rt.log_source(group, group.start())
        try:
            while True:
                runner.step(source)
                group.maintain(self.rt.fetch, closing=True)
                if group.start()[LOG] >= head:
                    return
        finally:
            source.close()

    # -- joining ------------------------------------------------------------------------
    def onboard(self, learner: Learner) -> None:
        """Sign up (dev sign-in) and go through every onboarding step."""
        outcome = sign_in(self.rt.bus, CommandContext(), pepper=self.rt.pepper,
                          email=learner.email, name=learner.name, provider="dev")  # fmt: skip
        learner.user_id = outcome.result["user_id"]
        self.clock.tick()
        bus, ctx, user, rng = self.rt.bus, learner.ctx, learner.user_id, self.rng
        country = content.COUNTRY[learner.native]
        home = next((x.id for x in reference.locations() if x.country_code == country), 1)
        steps: list[Callable[[], object]] = [
            lambda: profiles.update_profile(bus, ctx, profiles.UpdateProfile(
                user_id=user, english_name=learner.name, location_id=home,
                bio=rng.choice(content.BIOS))),
            lambda: profiles.set_gender(bus, ctx, profiles.SetGender(
                user_id=user, gender=rng.choice(("FEMALE", "MALE", "NOT_SPECIFIED")))),
            lambda: profiles.set_birth_year(bus, ctx, profiles.SetBirthYear(
                user_id=user, year=rng.randrange(1975, 2006), current_year=self.clock.now.year)),
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
            self.clock.tick()
        self.counts["onboarded"] += 1

    def take_level_test(self, learner: Learner) -> None:
        """The voice test answered in text, for learners of English (the language whose
        answers the scorer is calibrated on); each answers near their own level."""
        if learner.target != content.ENGLISH:
            return
        bus, ctx, user = self.rt.bus, learner.ctx, learner.user_id
        near = round((learner.level_id - 100) * 1.25) + self.rng.choice((-1, 0, 0, 1))
        answer = content.ANSWERS[min(max(near, 0), len(content.ANSWERS) - 1)]
        started = level_tests.start_test(bus, ctx, user_id=user, language="en", mode="voice",
                                         self_reported_level=answer.self_reported)  # fmt: skip
        test_id = started.result["test_id"]
        recording = f"demo/level-tests/{test_id}/1.txt"
        seconds = round(len(answer.text.split()) / 2.2, 1)  # about 130 words a minute
        self.clock.tick()
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
        self.clock.tick()
        level_tests.record_assessment(bus, TEXT_ANSWERS, test_id, result)
        self.counts["level_tests"] += 1

    # -- matching and chat -----------------------------------------------------------------
    def partners_of(self, learner: Learner) -> int:
        return sum(1 for a, b in self.matched if learner in (a, b))

    def send_requests(self, present: list[Learner]) -> list[tuple[Learner, Learner, str]]:
        """Each learner short of partners asks one: a native speaker of their target
        language who learns theirs if there is one, else another learner of it."""
        requests = []
        for learner in present:
            if self.partners_of(learner) >= MATCHES_EACH:
                continue
            free = [
                x for x in present
                if x is not learner and frozenset((x.user_id, learner.user_id)) not in self.pairs
                and self.partners_of(x) < MATCHES_EACH + 1
            ]  # fmt: skip
            ideal = [x for x in free if (x.native, x.target) == (learner.target, learner.native)]
            near = [x for x in free if learner.target in (x.native, x.target)]
            if not (choices := ideal or near):
                continue
            receiver = self.rng.choice(choices)
            self.pairs.add(frozenset((receiver.user_id, learner.user_id)))
            ask = matching.SendRequest(
                targetUserId=UUID(receiver.user_id), message=f"Hi {receiver.name}, shall we talk?"
            )
            sent = matching.send_request(
                self.rt.bus, learner.ctx, sender_id=learner.user_id, command=ask
            )
            requests.append((learner, receiver, sent.result["request_id"]))
            self.clock.tick()
        return requests

    def answer_requests(self, requests: list[tuple[Learner, Learner, str]]) -> None:
        """Most requests are accepted, a few rejected, a few left pending."""
        for sender, receiver, request_id in requests:
            roll = self.rng.random()
            if roll >= 0.9:
                continue
            accepted = roll < 0.8
            matching.on_pair(self.rt.bus, receiver.ctx, "Accept" if accepted else "Reject",
                             pair_id(sender.user_id, receiver.user_id),
                             partial(_answer, accepted, request_id, receiver.user_id))  # fmt: skip
            if accepted:
                self.matched.append((sender, receiver))
                self.counts["matches"] += 1
            self.clock.tick()

    def chat(self) -> None:
        for first, second in self.matched:
            if self.rng.random() < 0.3:
                continue
            room = direct_room_id(first.user_id, second.user_id)
            for turn in range(self.rng.randrange(2, 5)):
                sender = (first, second)[turn % 2]
                text = self.rng.choice(content.CHAT_LINES)
                chat.post_message(self.rt.bus, sender.ctx, sender_id=sender.user_id,
                                  command=chat.PostMessage(roomId=room, message=text))  # fmt: skip
                self.counts["messages"] += 1
                self.clock.tick()

    # -- sessions ---------------------------------------------------------------------------
    def schedule_sessions(
        self, active: list[Learner], starts: datetime
    ) -> list[tuple[str, Learner]]:
        """Some matched pairs book a 30-minute video session at ``starts`` (one a learner);
        the guest accepts. Returns (session id, host) of each."""
        booked: list[tuple[str, Learner]] = []
        busy: set[str] = set()
        for host, guest in self.matched:
            if {host.user_id, guest.user_id} & busy or self.rng.random() < 0.4:
                continue
            if host not in active or guest not in active:
                continue
            busy |= {host.user_id, guest.user_id}
            language = self.rng.choice((host.target, guest.target))
            book = sessions.ScheduleSession(
                partner_id=guest.user_id, starts_at=starts, language=language, title="Practice"
            )
            outcome = sessions.schedule_session(
                self.rt.bus, host.ctx, host_id=host.user_id, command=book
            )
            session_id = outcome.result["session_id"]
            self.clock.tick()
            sessions.on_session(self.rt.bus, guest.ctx, "Accept", session_id, guest.user_id)
            booked.append((session_id, host))
            self.counts["sessions_booked"] += 1
        return booked

    def hold_sessions(self, booked: list[tuple[str, Learner]], minutes: int) -> None:
        for session_id, host in booked:
            sessions.on_session(self.rt.bus, host.ctx, "Start", session_id, host.user_id)
        self.clock.later(minutes)
        for session_id, host in booked:
            sessions.on_session(self.rt.bus, host.ctx, "Complete", session_id, host.user_id)
            self.counts["sessions"] += 1

    def create_group_session(self, active: list[Learner], index: int,
                             starts: datetime) -> tuple[str, Learner] | None:  # fmt: skip
        """One group session a day, in a language some active learners study, hosted by one
        of its native speakers: (session id, host), or None if nobody could host."""
        languages = sorted({x.target for x in active})
        if not languages:
            return None
        language = languages[index % len(languages)]
        hosts = [x for x in active if x.native == language]
        if not hosts:
            return None
        host = self.rng.choice(hosts)
        title, topic = content.GROUP_TOPICS[index % len(content.GROUP_TOPICS)]
        outcome = sessions.create_group_session(
            self.rt.bus, host.ctx, host_id=host.user_id,
            command=sessions.CreateGroupSession(title=title, topicCategory=topic, language=language,
                                                maxParticipants=6, scheduledAt=starts,
                                                duration_minutes=60))  # fmt: skip
        return outcome.result["session_id"], host

    def join_group_session(self, group: tuple[str, Learner] | None, active: list[Learner]) -> None:
        if group is None:
            return
        session_id, host = group
        learners = [x for x in active if x is not host and x.target == host.native]
        for learner in self.rng.sample(learners, min(len(learners), 5)):
            sessions.on_group_session(self.rt.bus, learner.ctx, "Join", session_id,
                                      learner.user_id)  # fmt: skip
            self.clock.tick()

    def hold_group_session(self, group: tuple[str, Learner] | None, minutes: int) -> None:
        if group is None:
            return
        session_id, host = group
        sessions.on_group_session(self.rt.bus, host.ctx, "Start", session_id, host.user_id)
        self.clock.later(minutes)
        sessions.on_group_session(self.rt.bus, host.ctx, "End", session_id, host.user_id)
        self.counts["group_sessions"] += 1


def plan(rng: random.Random, users: int, days: int) -> list[Learner]:
    """Who the learners are and on which day each joins (two on the first day, the others
    within the first half of the days). Language pairs go round in a shuffled order, and
    the learners of each language spread over the levels in one, so even a small demo
    has beginners and advanced learners side by side."""
    names = rng.sample(content.FIRST_NAMES, len(content.FIRST_NAMES))
    pairs = rng.sample(content.PAIRS, len(content.PAIRS))
    levels = rng.sample(range(5), 5)
    learners: list[Learner] = []
    for index in range(users):
        name = names[index % len(names)]
        native, target = pairs[index % len(pairs)]
        peers = sum(1 for x in learners if x.target == target)
        joins = 0 if index < FIRST_DAY_USERS else rng.randrange(max(1, (days + 1) // 2))
        learners.append(Learner(name=name, email=f"{name.lower()}.{index + 1}@demo.example.com",
                                native=native, target=target,
                                level_id=100 + levels[peers % len(levels)],
                                onboard_day=joins))  # fmt: skip
    return learners


def _answer(accepted: bool, request_id: str, receiver: str, pair: MatchPair, cause: Cause) -> None:
    if accepted:
        pair.accept(cause, request_id=request_id, by_user_id=receiver)
    else:
        pair.reject(cause, request_id=request_id, by_user_id=receiver)


WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
TEXT_ANSWERS = CommandContext(actor_id="demo.text-answers")
"""Who records the transcripts and the assessment of text answers (a worker's part)."""


def seed(rt: Runtime, *, users: int, days: int, seed: int,
         on_day: Callable[[int], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Seed an empty store; the counts of what was done, and the address of a learner to
    sign in as (dev login). ``on_day`` hears each simulated day finish (progress)."""
    if (head := rt.store.max_position()) > 0:
        raise NotEmpty(f"the store holds {head} events already")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    clock = SimulatedClock(first + timedelta(hours=7))
    rt.bus.clock = clock
    seeder = Seeder(rt, random.Random(seed), clock)
    seeder.learners = plan(seeder.rng, users, days)
    for index in range(days):
        seeder.day(index, first + timedelta(days=index), last=index == days - 1)
        if on_day is not None:
            on_day(index)
    return {"users": users, "days": days, "seed": seed, **seeder.counts,
            "events": rt.store.max_position(),
            "sign_in_as": seeder.learners[0].email}  # fmt: skip
