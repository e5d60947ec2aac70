"""Properties of the chat room rules (domain/chat.py) over generated joins and leaves.

Whatever order members arrive and go in, a room never holds more people than its capacity,
joining twice changes nothing, a direct room stays with its pair, the group creator leaves
last, and the room closes exactly when its last member leaves.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from domain.aggregate import Cause
from domain.chat import ChatRoom, direct_room_id, room_aggregate_id
from domain.errors import DomainError

CAUSE = Cause(occurred_at=datetime(2026, 11, 26, tzinfo=UTC), correlation_id=uuid4())
CREATOR = "user-0"
_people = st.sampled_from([f"user-{i}" for i in range(8)])
_ops = st.lists(st.tuples(st.sampled_from(["join", "leave"]), _people), max_size=40)


def _room(room_type: str, capacity: int, invited: list[str]) -> ChatRoom:
    room_id = direct_room_id(CREATOR, invited[0]) if room_type == "DIRECT" else 7
    room = ChatRoom(room_aggregate_id(room_id))
    room.create(CAUSE, room_id=room_id, name="Room", room_type=room_type,  # type: ignore[arg-type]
                is_public=True, max_participants=capacity, created_by=CREATOR,
                participant_ids=invited)  # fmt: skip
    return room


def _play(room: ChatRoom, ops: list[tuple[str, str]]) -> None:
    """Apply the joins and leaves, skipping the ones the rules refuse."""
    for action, user in ops:
        with contextlib.suppress(DomainError):
            (room.join if action == "join" else room.leave)(CAUSE, user)


@given(st.integers(3, 6), st.lists(_people, max_size=2), _ops)
def test_a_group_room_keeps_its_capacity_and_its_creator_until_last(
    capacity: int, invited: list[str], ops: list[tuple[str, str]]
) -> None:
    room = _room("GROUP", capacity, invited)
    for action, user in ops:
        before, was_open = set(room.participants), room.exists
        try:
            (room.join if action == "join" else room.leave)(CAUSE, user)
        except DomainError:
            assert room.participants == before, "a refused action changed the members"
            continue
        assert len(room.participants) <= capacity
        if action == "join":
            assert room.participants == before | {user}
        else:
            assert room.participants == before - {user}
            assert user != CREATOR or before == {CREATOR}, "the creator left others behind"
        assert room.exists == bool(room.participants), "open and empty, or closed and not"
        assert was_open


@given(_people.filter(lambda p: p != CREATOR), _ops)
def test_a_direct_room_admits_nobody_but_its_pair(partner: str, ops: list[tuple[str, str]]) -> None:
    room = _room("DIRECT", 2, [partner])
    for op in ops:
        _play(room, [op])
        assert room.participants <= {CREATOR, partner}


@given(st.integers(3, 6), st.lists(_people, max_size=2), _ops)
def test_a_room_replays_from_its_events_to_the_same_members(
    capacity: int, invited: list[str], ops: list[tuple[str, str]]
) -> None:
    room = _room("GROUP", capacity, invited)
    _play(room, ops)
    replayed = ChatRoom.replay(room.id, room.collect())
    assert replayed is not None
    assert (replayed.participants, replayed.exists) == (room.participants, room.exists)
