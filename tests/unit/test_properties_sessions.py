"""Properties of the session rules (domain/sessions.py, domain/group_sessions.py) over
generated sequences of bookings, moves and releases.

The example tests pin a few hand-picked cases; these check the promises users rely on for
every order of operations: an agenda never holds two overlapping sessions, a refused
booking changes nothing, history replays to the same agenda, and a group session never
seats more people than its capacity nor readmits someone the host removed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.aggregate import Cause
from domain.errors import Conflict, DomainError
from domain.group_sessions import MAX_CAPACITY, MIN_CAPACITY, GroupSession
from domain.sessions import CEFR, DURATIONS, Agenda, agenda_id

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
USER = "agenda-owner"
CAUSE = Cause(occurred_at=NOW, correlation_id=uuid4())

# Slots on a 15-minute grid over two days, so generated sessions collide often.
_slot = st.tuples(
    st.sampled_from([f"s{i}" for i in range(6)]),
    st.integers(0, 2 * 24 * 4).map(lambda q: NOW + timedelta(minutes=15 * q)),
    st.sampled_from(DURATIONS).map(lambda d: timedelta(minutes=d)),
)
_agenda_ops = st.lists(st.one_of(_slot.map(lambda s: ("hold", *s)),
                                 st.tuples(st.just("release"), _slot.map(lambda s: s[0]))),
                       max_size=25)  # fmt: skip


def _overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@given(_agenda_ops)
def test_an_agenda_never_holds_two_overlapping_sessions(ops: list[tuple[object, ...]]) -> None:
    agenda = Agenda(agenda_id(USER))
    for op in ops:
        before = dict(agenda.slots)
        if op[0] == "release":
            agenda.release(CAUSE, USER, str(op[1]))
            assert str(op[1]) not in agenda.slots
            continue
        _, session, starts, length = op
        assert isinstance(session, str) and isinstance(starts, datetime)
        assert isinstance(length, timedelta)
        wanted = (starts, starts + length)
        clash = any(_overlaps(wanted, slot) for s, slot in before.items() if s != session)
        try:
            agenda.hold(CAUSE, USER, session, *wanted)
        except Conflict:
            assert clash, "a free slot was refused"
            assert agenda.slots == before, "a refused booking changed the agenda"
            continue
        assert not clash, "an overlapping slot was booked"
        assert agenda.slots[session] == wanted
    held = list(agenda.slots.values())
    assert not any(_overlaps(a, b) for i, a in enumerate(held) for b in held[i + 1 :])


@given(_agenda_ops)
def test_an_agenda_replays_from_its_events_to_the_same_slots(ops: list[tuple[object, ...]]) -> None:
    agenda = Agenda(agenda_id(USER))
    for op in ops:
        try:
            if op[0] == "release":
                agenda.release(CAUSE, USER, str(op[1]))
            else:
                _, session, starts, length = op
                assert isinstance(starts, datetime) and isinstance(length, timedelta)
                agenda.hold(CAUSE, USER, str(session), starts, starts + length)
        except Conflict:
            pass
    replayed = Agenda.replay(agenda.id, agenda.collect())
    assert (replayed.slots if replayed else {}) == agenda.slots


_people = st.sampled_from([f"user-{i}" for i in range(14)])
_group_ops = st.lists(
    st.tuples(st.sampled_from(["join", "leave", "remove"]), _people,
              st.sampled_from([*CEFR, None])),
    max_size=40,
)  # fmt: skip


@given(
    st.integers(MIN_CAPACITY, MAX_CAPACITY),
    st.tuples(st.integers(0, 5), st.integers(0, 5)).map(sorted),
    _group_ops,
)
def test_a_group_session_never_seats_more_than_its_capacity_nor_a_removed_user(
    capacity: int, levels: list[int], ops: list[tuple[str, str, str | None]]
) -> None:
    group = GroupSession(uuid4())
    group.create(CAUSE, session_id="g", host_id="user-0", title="Talk", topic_name="",
                 language_id=2, level_min=CEFR[levels[0]], level_max=CEFR[levels[1]],
                 capacity=capacity, starts_at=NOW + timedelta(days=1), duration_minutes=60,
                 room_id="r")  # fmt: skip
    removed: set[str] = set()
    for action, user, level in ops:
        before = list(group.members)
        try:
            if action == "join":
                group.join(CAUSE, user, level)
            elif action == "leave":
                group.leave(CAUSE, user)
            else:
                group.remove(CAUSE, "user-0", user)
                if user in before:
                    removed.add(user)
        except DomainError:
            assert group.members == before, "a refused action changed the seats"
        assert len(group.members) <= capacity
        assert "user-0" in group.members, "the host lost their seat"
        assert not removed & set(group.members), "a removed user got back in"
        assert len(set(group.members)) == len(group.members)
        if action == "join" and user in group.members and user not in before:
            assert level is not None and levels[0] <= CEFR.index(level) <= levels[1]
