"""Session commands on their own: given a proposed 1:1 session (both agendas holding its
slot) or a group session, when a partner takes a step, then the events recorded or the
error refused with (and nothing recorded). Steps that end a session free both agendas."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from commands import sessions as cmd
from domain.aggregate import Cause
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.events import DomainEvent
from domain.group_sessions import GroupSession, GroupSessionJoined, GroupSessionLeft
from domain.profiles import Profile, TargetLanguage, profile_id
from domain.sessions import (
    NO_SHOW_AFTER,
    Agenda,
    Session,
    SessionAccepted,
    SessionCompleted,
    SessionDeclined,
    SessionMissed,
    SessionStarted,
    SlotReleased,
    agenda_id,
)
from tests.scenarios import NOW, Scenario, history

HOST, GUEST = (str(uuid4()) for _ in range(2))
SESSION = str(uuid4())
STARTS = NOW + timedelta(days=1)
FREED = [SlotReleased.topic, SlotReleased.topic]


def _proposed() -> list[DomainEvent]:
    def propose(session: Session, cause: Cause) -> None:
        session.propose(cause, session_id=SESSION, host_id=HOST, guest_id=GUEST, title="Talk",
                        language_id=2, kind="VIDEO", starts_at=STARTS, duration_minutes=30,
                        room_id="room")  # fmt: skip

    return history(Session, UUID(SESSION), propose)


def _held(user: str) -> list[DomainEvent]:
    def hold(agenda: Agenda, cause: Cause) -> None:
        agenda.hold(cause, user, SESSION, STARTS, STARTS + timedelta(minutes=30))

    return history(Agenda, agenda_id(user), hold)


def _given_proposed(scenario: Scenario) -> None:
    scenario.given(_proposed(), _held(HOST), _held(GUEST))


def _at(scenario: Scenario, moment: timedelta) -> None:
    scenario.bus.clock = lambda: STARTS + moment


def topics(events: list[DomainEvent]) -> list[str]:
    return [e.topic for e in events]


def test_the_guest_accepts_and_the_host_cannot_answer_for_them(scenario: Scenario) -> None:
    _given_proposed(scenario)
    by_host = cmd.AcceptSession(session_id=SESSION, user_id=HOST)
    assert scenario.refused(Forbidden, cmd.accept_session, by_host) == "SESSION_NOT_YOURS"

    events = scenario.when(cmd.accept_session, cmd.AcceptSession(session_id=SESSION, user_id=GUEST))

    assert topics(events) == [SessionAccepted.topic]  # the slots stay held


def test_declining_frees_both_agendas_and_cannot_be_repeated(scenario: Scenario) -> None:
    _given_proposed(scenario)
    decline = cmd.DeclineSession(session_id=SESSION, user_id=GUEST)

    assert topics(scenario.when(cmd.decline_session, decline)) == [SessionDeclined.topic, *FREED]
    assert scenario.refused(Conflict, cmd.decline_session, decline) == "SESSION_STATE"


def test_a_session_starts_near_its_time_and_completing_it_frees_the_agendas(
    scenario: Scenario,
) -> None:
    _given_proposed(scenario)
    scenario.when(cmd.accept_session, cmd.AcceptSession(session_id=SESSION, user_id=GUEST))
    start = cmd.StartSession(session_id=SESSION, user_id=HOST)
    assert scenario.refused(RuleViolation, cmd.start_session, start) == "SESSION_NOT_STARTABLE"

    _at(scenario, timedelta(minutes=-5))
    assert topics(scenario.when(cmd.start_session, start)) == [SessionStarted.topic]
    _at(scenario, timedelta(minutes=25))
    complete = cmd.CompleteSession(session_id=SESSION, user_id=GUEST)
    events = scenario.when(cmd.complete_session, complete)
    assert topics(events) == [SessionCompleted.topic, *FREED]
    assert events[0].minutes == 30  # type: ignore[attr-defined]
    assert scenario.when(cmd.complete_session, complete) == []  # already completed


def test_the_schedule_calls_a_no_show_only_once_it_is_overdue(scenario: Scenario) -> None:
    _given_proposed(scenario)
    scenario.when(cmd.accept_session, cmd.AcceptSession(session_id=SESSION, user_id=GUEST))
    miss = cmd.MissSession(session_id=SESSION, user_id="schedule")
    assert scenario.refused(RuleViolation, cmd.miss_session, miss) == "SESSION_NOT_MISSED"

    _at(scenario, NO_SHOW_AFTER)
    assert topics(scenario.when(cmd.miss_session, miss)) == [SessionMissed.topic, *FREED]


def test_an_outsider_or_a_malformed_id_finds_no_session(scenario: Scenario) -> None:
    _given_proposed(scenario)
    outsider = cmd.CancelSession(session_id=SESSION, user_id=str(uuid4()))
    assert scenario.refused(NotFound, cmd.cancel_session, outsider) == "SESSION_NOT_FOUND"

    malformed = cmd.CancelSession(session_id="not-a-session", user_id=HOST)
    assert scenario.refused(NotFound, cmd.cancel_session, malformed) == "SESSION_NOT_FOUND"


def _group() -> list[DomainEvent]:
    def create(group: GroupSession, cause: Cause) -> None:
        group.create(cause, session_id=SESSION, host_id=HOST, title="Chat", topic_name="",
                     language_id=2, level_min="A2", level_max="B2", capacity=4,
                     starts_at=STARTS, duration_minutes=60, room_id="room")  # fmt: skip

    return history(GroupSession, UUID(SESSION), create)


def _learner(level_id: int) -> list[DomainEvent]:
    def levels(profile: Profile, cause: Cause) -> None:
        profile.user_id = GUEST
        english = TargetLanguage(language_id=2, current_level_id=level_id, target_level_id=105)
        profile.set_language_levels(cause, [english])

    return history(Profile, profile_id(GUEST), levels)


def test_a_learner_joins_a_group_in_their_level_range_and_leaves_it(scenario: Scenario) -> None:
    scenario.given(_group(), _learner(102))  # B1 in English
    join = cmd.JoinGroupSession(session_id=SESSION, user_id=GUEST)

    assert topics(scenario.when(cmd.join_group_session, join)) == [GroupSessionJoined.topic]
    leave = cmd.LeaveGroupSession(session_id=SESSION, user_id=GUEST)
    assert topics(scenario.when(cmd.leave_group_session, leave)) == [GroupSessionLeft.topic]
    host_leaves = cmd.LeaveGroupSession(session_id=SESSION, user_id=HOST)
    assert scenario.refused(RuleViolation, cmd.leave_group_session, host_leaves) == (
        "SESSION_HOST_LEAVES"
    )


def test_a_learner_outside_the_level_range_cannot_join(scenario: Scenario) -> None:
    scenario.given(_group(), _learner(100))  # A1 in English
    join = cmd.JoinGroupSession(session_id=SESSION, user_id=GUEST)

    assert scenario.refused(RuleViolation, cmd.join_group_session, join) == (
        "SESSION_LEVEL_MISMATCH"
    )
