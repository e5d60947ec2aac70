"""A 1:1 session as the SPA reads it (the sessions routes and ``/sync`` both answer with it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain import reference
from eventflow.readmodels import ReadModels
from projections.chat import Person, people
from projections.sessions import SessionRow


def language_code(language_id: int) -> str | None:
    found = reference.language(language_id)
    return found.code if found else None


def session_view(row: SessionRow, user_id: str, names: dict[str, Person]) -> dict[str, Any]:
    partner_id = row["guest_id"] if row["host_id"] == user_id else row["host_id"]
    partner, host, guest = names[partner_id], names[row["host_id"]], names[row["guest_id"]]
    ends = row["starts_at"] + timedelta(minutes=row["duration_minutes"])
    return {
        "id": row["session_id"],
        "sessionId": row["session_id"],
        "type": row["kind"].lower(),
        "sessionType": row["kind"],
        "duration": row["duration_minutes"],
        "durationMinutes": row["duration_minutes"],
        "language": language_code(row["language_id"]),
        "languageCode": language_code(row["language_id"]),
        "status": row["status"],
        "scheduledAt": row["starts_at"].isoformat(),
        "endAt": ends.isoformat(),
        "title": row["title"],
        "isHost": row["host_id"] == user_id,
        "awaitingMyAnswer": row["awaiting"] == user_id,
        "partnerId": partner_id,
        "partnerName": partner["name"],
        "partnerImage": partner["profileImage"],
        "hostName": host["name"],
        "hostUserName": host["name"],
        "guestUserName": guest["name"],
        "participants": [row["host_id"], row["guest_id"]],
        "maxParticipants": 2,
        "currentParticipants": 2 if row["status"] != "pending" else 1,
        "roomId": row["room_id"],
    }


def session_views(
    read_models: ReadModels, rows: list[SessionRow], user_id: str
) -> list[dict[str, Any]]:
    names = people(read_models, sorted({r[k] for r in rows for k in ("host_id", "guest_id")}))
    return [session_view(r, user_id, names) for r in rows]
