"""Session rules without I/O: the 1:1 life cycle, agendas that never overlap, group seats
and levels, and streaks that count today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from domain.aggregate import Cause
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from domain.group_sessions import GroupSession
from domain.rooms import Room, RoomEnded, room_key
from domain.sessions import Agenda, Session, agenda_id
from projections.sessions import streak_days

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HOST, GUEST = "host-0000", "guest-000"


def at(moment: datetime) -> Cause:
    return Cause(occurred_at=moment, correlation_id=uuid4())


def proposed(starts: datetime = NOW + timedelta(hours=2), duration: int = 30) -> Session:
    sid = str(uuid4())
    session = Session(uuid4())
    session.propose(at(NOW), session_id=sid, host_id=HOST, guest_id=GUEST, title=" ",
                    language_id=1, kind="VIDEO", starts_at=starts, duration_minutes=duration,
                    room_id="r")  # fmt: skip
    return session


def test_a_session_waits_for_the_partner_and_a_move_waits_again() -> None:
    session = proposed()
    with pytest.raises(Forbidden):
        session.accept(at(NOW), HOST)  # the proposer cannot accept for the partner
    with pytest.raises(NotFound):
        session.accept(at(NOW), "stranger")
    session.accept(at(NOW), GUEST)
    assert session.status == "scheduled"
    session.reschedule(at(NOW), GUEST, NOW + timedelta(hours=3), 45)
    assert session.status == "pending" and session.awaiting == HOST
    session.accept(at(NOW), HOST)
    assert session.status == "scheduled" and session.duration == 45


@pytest.mark.parametrize(
    ("starts", "duration", "code"),
    [
        (NOW + timedelta(minutes=2), 30, "SESSION_TIME"),  # too soon
        (NOW + timedelta(days=91), 30, "SESSION_TIME"),  # too far
        (NOW + timedelta(hours=1), 20, "SESSION_DURATION"),
        (NOW.replace(tzinfo=None) + timedelta(hours=1), 30, "SESSION_TIME_ZONE"),
    ],
)
def test_times_and_durations_are_checked(starts: datetime, duration: int, code: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        proposed(starts, duration)
    assert caught.value.code == code


def test_start_complete_and_no_show_follow_the_clock() -> None:
    session = proposed()
    session.accept(at(NOW), GUEST)
    starts = NOW + timedelta(hours=2)
    with pytest.raises(RuleViolation):
        session.start(at(starts - timedelta(minutes=11)), HOST)  # too early
    with pytest.raises(RuleViolation):
        session.miss(at(starts + timedelta(minutes=14)), "schedule")  # not missed yet
    session.start(at(starts - timedelta(minutes=5)), GUEST)
    session.start(at(starts), HOST)  # the partner joins a started session: no new event
    session.complete(at(starts + timedelta(minutes=27)), HOST)
    events = session.collect()
    assert [type(e).__name__ for e in events][-2:] == ["SessionStarted", "SessionCompleted"]
    assert events[-1].minutes == 32  # type: ignore[attr-defined]  # actual, not planned
    other = proposed()
    other.accept(at(NOW), GUEST)
    other.miss(at(starts + timedelta(minutes=16)), "schedule")
    assert other.status == "no_show"
    with pytest.raises(Conflict):
        other.start(at(starts + timedelta(minutes=17)), HOST)


def test_an_agenda_refuses_overlaps_but_not_touching_slots() -> None:
    agenda = Agenda(agenda_id(HOST))
    nine = NOW + timedelta(days=1)
    agenda.hold(at(NOW), HOST, "a", nine, nine + timedelta(minutes=30))
    agenda.hold(at(NOW), HOST, "b", nine + timedelta(minutes=30), nine + timedelta(minutes=60))
    with pytest.raises(Conflict):
        agenda.hold(at(NOW), HOST, "c", nine + timedelta(minutes=15), nine + timedelta(minutes=45))
    agenda.hold(at(NOW), HOST, "a", nine - timedelta(minutes=30), nine)  # moving "a" is fine
    agenda.release(at(NOW), HOST, "b")
    agenda.hold(at(NOW), HOST, "c", nine + timedelta(minutes=15), nine + timedelta(minutes=45))
    assert set(agenda.slots) == {"a", "c"}


def group() -> GroupSession:
    session = GroupSession(uuid4())
    session.create(at(NOW), session_id="g", host_id=HOST, title="Cafe talk", topic_name="food",
                   language_id=2, level_min="A2", level_max="B1", capacity=3,
                   starts_at=NOW + timedelta(days=1), duration_minutes=60, room_id="r")  # fmt: skip
    return session


def test_group_seats_levels_and_removal() -> None:
    session = group()
    with pytest.raises(RuleViolation):
        session.join(at(NOW), "c2-speaker", "C2")
    with pytest.raises(RuleViolation):
        session.join(at(NOW), "unknown-level", None)
    session.join(at(NOW), "u1", "A2")
    session.join(at(NOW), "u1", "A2")  # idempotent
    session.join(at(NOW), "u2", "B1")
    with pytest.raises(Conflict):
        session.join(at(NOW), "u3", "B1")  # host + 2 = capacity 3
    with pytest.raises(Forbidden):
        session.remove(at(NOW), "u1", "u2")  # only the host
    session.remove(at(NOW), HOST, "u2")
    with pytest.raises(Forbidden):
        session.join(at(NOW), "u2", "B1")  # removed people stay out
    session.join(at(NOW), "u3", "B1")
    assert session.members == [HOST, "u1", "u3"]


def test_a_call_ends_with_its_last_participant_and_the_room_opens_again() -> None:
    room = Room(room_key("abc"))
    room.create(at(NOW), room_id="abc", room_type="audio", max_participants=2, title="x")
    room.join(at(NOW), user_id="a", user_name="A")
    room.join(at(NOW + timedelta(minutes=1)), user_id="b", user_name="B")
    room.leave(at(NOW + timedelta(minutes=5)), user_id="a")
    room.leave(at(NOW + timedelta(minutes=10)), user_id="b")
    room.leave(at(NOW + timedelta(minutes=11)), user_id="b")  # twice: nothing more
    ended = [e for e in room.collect() if isinstance(e, RoomEnded)]
    assert [(e.duration_seconds, e.peak_participants) for e in ended] == [(600, 2)]
    room.join(at(NOW + timedelta(hours=1)), user_id="a", user_name="A")
    room.leave(at(NOW + timedelta(hours=1, minutes=2)), user_id="a")
    assert [e.duration_seconds for e in room.collect() if isinstance(e, RoomEnded)] == [120]


def test_streaks_count_today_and_keep_a_day_of_grace() -> None:
    today = date(2026, 11, 26)
    days = {today - timedelta(days=n) for n in (1, 2, 3)}
    assert streak_days(days, today) == 3  # today not done yet: the streak still stands
    assert streak_days(days | {today}, today) == 4
    assert streak_days({today}, today) == 1  # the original said 0
    assert streak_days({today - timedelta(days=2)}, today) == 0
