"""Chat rules without I/O: rooms, membership, idempotent posting."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest

from domain.aggregate import Cause
from domain.chat import (
    ChatMessage,
    ChatMessagePosted,
    ChatRoom,
    ChatRoomClosed,
    direct_room_id,
    message_aggregate_id,
    room_aggregate_id,
)
from domain.errors import Conflict, Forbidden, NotFound, RuleViolation
from eventflow.codec import decode

A, B, C = "user-a", "user-b", "user-c"
CAUSE = Cause(occurred_at=datetime(2026, 11, 26, tzinfo=UTC), correlation_id=uuid4())


def _group(max_participants: int = 3, room_id: int = 42) -> ChatRoom:
    room = ChatRoom(room_aggregate_id(room_id))
    room.create(
        CAUSE,
        room_id=room_id,
        name="Study group",
        room_type="GROUP",
        is_public=True,
        max_participants=max_participants,
        created_by=A,
        participant_ids=[B, A],  # the creator listed again counts once
    )
    return room


def test_direct_room_numbers_are_per_pair_and_safe_in_javascript() -> None:
    assert direct_room_id(A, B) == direct_room_id(B, A)
    assert direct_room_id(A, B) != direct_room_id(A, C)
    assert 0 < direct_room_id(A, B) < 2**53


def test_a_room_is_created_once() -> None:
    room = _group()
    assert room.participants == {A, B}
    with pytest.raises(Conflict):
        room.create(
            CAUSE, room_id=42, name="x", room_type="GROUP", is_public=True,
            max_participants=3, created_by=C, participant_ids=[],
        )  # fmt: skip


def test_join_is_idempotent_and_respects_capacity_and_privacy() -> None:
    room = _group(max_participants=3)
    room.join(CAUSE, A)  # already in: nothing happens
    room.join(CAUSE, C)
    assert len(room.collect()) == 2  # created + C joined
    with pytest.raises(RuleViolation, match="full"):
        room.join(CAUSE, "user-d")
    direct = ChatRoom(room_aggregate_id(7))
    direct.create(
        CAUSE, room_id=7, name="1:1", room_type="DIRECT", is_public=False,
        max_participants=2, created_by=A, participant_ids=[B],
    )  # fmt: skip
    with pytest.raises(Forbidden):
        direct.join(CAUSE, C)


def test_the_creator_leaves_last_and_the_last_one_out_closes_the_room() -> None:
    room = _group()
    with pytest.raises(Forbidden, match="creator"):
        room.leave(CAUSE, A)
    room.leave(CAUSE, B)
    room.leave(CAUSE, A)
    assert isinstance(room.collect()[-1], ChatRoomClosed)
    with pytest.raises(NotFound):
        room.join(CAUSE, C)


def _post(room: ChatRoom, sender: str, client_id: str, text: str = "hi", **media: object) -> str:
    message = ChatMessage(message_aggregate_id(room.room_id, client_id))
    message_id = message.post(
        CAUSE,
        room,
        sender_id=sender,
        client_message_id=client_id,
        text=text,
        image_urls=media.get("images", []),  # type: ignore[arg-type]
        audio_url=media.get("audio"),  # type: ignore[arg-type]
        audio_duration=None,
    )
    events = message.collect()
    assert all(isinstance(e, ChatMessagePosted) for e in events)
    return message_id


def test_only_members_post_and_a_message_needs_content() -> None:
    room = _group()
    with pytest.raises(NotFound):
        _post(room, C, "c1")
    with pytest.raises(RuleViolation, match="needs text"):
        _post(room, A, "a1", text="   ")


def test_message_types_follow_the_content() -> None:
    room = _group()
    kinds = []
    for client_id, text, media in (
        ("t", "hello", {}),
        ("i", "", {"images": ["/api/v1/upload/file/x.webp"]}),
        ("c", "look", {"images": ["/x"]}),
        ("v", "", {"audio": "/voice.webm"}),
        ("m", "hear this", {"audio": "/voice.webm"}),
    ):
        message = ChatMessage(message_aggregate_id(room.room_id, client_id))
        message.post(
            CAUSE, room, sender_id=A, client_message_id=client_id, text=text,
            image_urls=media.get("images", []), audio_url=media.get("audio"), audio_duration=None,
        )  # fmt: skip
        kinds.append(message.collect()[0].message_type)  # type: ignore[attr-defined]
    assert kinds == ["TEXT", "IMAGE", "IMAGE", "AUDIO", "MIXED"]


def test_a_message_records_its_room_members_and_which_of_them_saw_it_live() -> None:
    room = _group()
    message = ChatMessage(message_aggregate_id(room.room_id, "w"))
    message.post(
        CAUSE, room, sender_id=A, client_message_id="w", text="hi", image_urls=[],
        audio_url=None, audio_duration=None, watching=frozenset({B, "not-a-member"}),
    )  # fmt: skip
    posted = message.collect()[0]
    assert isinstance(posted, ChatMessagePosted)
    assert posted.watching == [B]
    assert posted.members == [A, B]


def test_a_message_stored_before_members_were_recorded_reads_them_as_unknown() -> None:
    room = _group()
    message = ChatMessage(message_aggregate_id(room.room_id, "old"))
    message.post(
        CAUSE, room, sender_id=A, client_message_id="old", text="hi", image_urls=[],
        audio_url=None, audio_duration=None,
    )  # fmt: skip
    posted = message.collect()[0]
    data = {k: v for k, v in posted.payload().items() if k != "members"}
    meta = posted.meta.model_dump(mode="json", exclude={"position", "trace_context"})
    stored = orjson.dumps({"schema_version": 1, "meta": meta, "data": data})
    old = decode(ChatMessagePosted.topic, stored)
    assert isinstance(old, ChatMessagePosted)
    assert old.members is None and old.watching == [] and old.sender_id == A
