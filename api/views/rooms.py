"""A call room as the SPA's room list and join page read it: the stored room and who holds a
seat right now (seats live in the room registry, not in the read model)."""

from __future__ import annotations

from typing import Any

from infra.room_registry import RoomRegistry
from projections.rooms import RoomRow


def room_view(rooms: RoomRegistry, row: RoomRow) -> dict[str, Any]:
    seated = rooms.participants(row["room_id"])
    return {
        "roomId": row["room_id"],
        "id": row["room_id"],
        "roomType": row["room_type"],
        "type": row["room_type"],
        "maxParticipants": row["max_participants"],
        "currentParticipants": len(seated),
        "status": "active" if seated else "waiting",
        "createdAt": row["created_at"].isoformat(),
        "metadata": {
            "title": row["title"],
            "language": row["language"],
            "isPrivate": row["is_private"],
            "sessionId": row["session_id"],
        },
        "participants": seated,
    }
