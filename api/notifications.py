"""Notifications over STOMP at ``/ws/notifications`` (contract 5.2).

The socket side only, for now: clients connect (token in the query or the CONNECT header),
subscribe to their queues and receive whatever is published on them. The notifications
context that fills those queues (events -> notifications, REST, preferences) comes next.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from api.stomp_session import StompSession
from infra.fanout import CHANNEL_PREFIX, user_channel
from infra.runtime import Runtime

sockets = APIRouter(tags=["notifications"])
USER_QUEUES = {
    "/user/queue/notifications": "notifications",
    "/user/queue/matching-notifications": "matching-notifications",
    "/user/queue/session-notifications": "session-notifications",
    "/user/queue/chat-notifications": "chat-notifications",
}
BROADCASTS = {
    "/sub/system-notifications": f"{CHANNEL_PREFIX}system-notifications",
    "/sub/urgent-notifications": f"{CHANNEL_PREFIX}urgent-notifications",
}
IGNORED_SENDS = frozenset({"/pub/notifications/mark-read", "/pub/notifications/update-settings"})


class NotificationDestinations:
    def channel_for(self, rt: Runtime, user_id: str, destination: str) -> str | None:
        if destination in USER_QUEUES:
            return user_channel(user_id, USER_QUEUES[destination])
        return BROADCASTS.get(destination)

    def on_send(self, rt: Runtime, user_id: str, destination: str, body: bytes) -> None:
        """The SPA's helpers exist but are never called; accept them and do nothing."""
        if destination not in IGNORED_SENDS:
            raise ValueError(f"unknown destination {destination[:60]!r}")


@sockets.websocket("/ws/notifications")
async def notification_socket(websocket: WebSocket) -> None:
    await StompSession(websocket, websocket.app.state.runtime, NotificationDestinations()).run()
