"""Chat room commands on their own: given a room's history, when a user joins, leaves or
reads it, then the events recorded or the error refused with (and nothing recorded)."""

from __future__ import annotations

from uuid import uuid4

from commands import chat as cmd
from domain.aggregate import Cause
from domain.chat import (
    ChatParticipantJoined,
    ChatParticipantLeft,
    ChatRoom,
    ChatRoomClosed,
    ChatRoomRead,
    room_aggregate_id,
)
from domain.errors import Forbidden, NotFound, RuleViolation
from domain.events import DomainEvent
from tests.scenarios import NOW, Scenario, history

ROOM = 7
OWNER, MEMBER, GUEST = (str(uuid4()) for _ in range(3))


def _room(room_type: str = "GROUP", capacity: int = 3) -> list[DomainEvent]:
    def create(room: ChatRoom, cause: Cause) -> None:
        room.create(cause, room_id=ROOM, name="Study", room_type=room_type,  # type: ignore[arg-type]
                    is_public=True, max_participants=capacity, created_by=OWNER,
                    participant_ids=[MEMBER])  # fmt: skip

    return history(ChatRoom, room_aggregate_id(ROOM), create)


def test_joining_a_group_room_is_recorded_once(scenario: Scenario) -> None:
    scenario.given(_room())
    join = cmd.JoinRoom(room_id=ROOM, user_id=GUEST)

    assert [type(e) for e in scenario.when(cmd.join_room, join)] == [ChatParticipantJoined]
    assert scenario.when(cmd.join_room, join) == []  # a member already


def test_a_full_room_a_direct_room_and_a_missing_room_refuse_joiners(
    scenario: Scenario,
) -> None:
    join = cmd.JoinRoom(room_id=ROOM, user_id=GUEST)
    assert scenario.refused(NotFound, cmd.join_room, join) == "ROOM_NOT_FOUND"

    scenario.given(_room(capacity=2))
    assert scenario.refused(RuleViolation, cmd.join_room, join) == "ROOM_FULL"


def test_nobody_joins_a_direct_room(scenario: Scenario) -> None:
    scenario.given(_room(room_type="DIRECT", capacity=2))

    join = cmd.JoinRoom(room_id=ROOM, user_id=GUEST)

    assert scenario.refused(Forbidden, cmd.join_room, join) == "ROOM_PRIVATE"


def test_the_creator_stays_while_others_remain_and_the_last_one_closes_it(
    scenario: Scenario,
) -> None:
    scenario.given(_room())
    owner_leaves = cmd.LeaveRoom(room_id=ROOM, user_id=OWNER)
    code = scenario.refused(Forbidden, cmd.leave_room, owner_leaves)
    assert code == "ROOM_CREATOR_CANNOT_LEAVE"

    member_leaves = cmd.LeaveRoom(room_id=ROOM, user_id=MEMBER)
    assert [type(e) for e in scenario.when(cmd.leave_room, member_leaves)] == [ChatParticipantLeft]
    events = scenario.when(cmd.leave_room, owner_leaves)
    assert [e.topic for e in events] == [ChatParticipantLeft.topic, ChatRoomClosed.topic]


def test_a_member_marks_a_room_read_and_an_outsider_finds_no_room(scenario: Scenario) -> None:
    scenario.given(_room())

    events = scenario.when(cmd.mark_room_read, cmd.MarkRoomRead(room_id=ROOM, user_id=MEMBER))

    assert [type(e) for e in events] == [ChatRoomRead]
    assert events[0].read_at == NOW  # type: ignore[attr-defined]
    outsider = cmd.MarkRoomRead(room_id=ROOM, user_id=GUEST)
    assert scenario.refused(NotFound, cmd.mark_room_read, outsider) == "ROOM_NOT_FOUND"
