"""The notification socket's destinations, its wire contract with the SPA: per-user queues,
broadcast topics and the sends it accepts and ignores (the router serves them, the AsyncAPI
document describes them)."""

from __future__ import annotations

from infra.fanout import CHANNEL_PREFIX

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
