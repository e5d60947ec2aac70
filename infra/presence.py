"""Who is online, kept in Redis by the socket layer and read by matching and profiles.

Each open socket holds a lease: a member of the sorted set ``presence:sockets:{user}`` whose
score is the lease's expiry. The socket's process renews its leases every third of the TTL
while the socket is open and drops them when it closes, so a user goes offline as soon as
their last socket closes, and within one TTL when the process holding it dies (nobody
renews, the leases expire). ``presence:last_seen`` keeps the last sign of life per user
for "last seen" labels.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

LAST_SEEN_KEY = "presence:last_seen"


def _sockets_key(user_id: str) -> str:
    return f"presence:sockets:{user_id}"


class Presence:
    def __init__(self, client: redis.Redis[bytes], ttl_seconds: float) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds

    @property
    def renew_every(self) -> float:
        """How often an open socket renews its lease: three chances before it lapses."""
        return self.ttl_seconds / 3

    def renew(self, user_id: str, socket_id: str, now: float) -> None:
        """Take or extend the socket's lease; the user is online while any lease is live."""
        key = _sockets_key(user_id)
        with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {socket_id: now + self.ttl_seconds})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, int(self.ttl_seconds * 2) + 1)
            pipe.zadd(LAST_SEEN_KEY, {user_id: now})
            pipe.execute()

    def release(self, user_id: str, socket_id: str, now: float) -> None:
        """The socket closed: drop its lease and remember when the user was last here."""
        with self._client.pipeline(transaction=False) as pipe:
            pipe.zrem(_sockets_key(user_id), socket_id)
            pipe.zadd(LAST_SEEN_KEY, {user_id: now})
            pipe.execute()

    def of(self, user_ids: list[str], now: float) -> dict[str, dict[str, str | None]]:
        """``status`` (ONLINE/OFFLINE) and ``lastSeen`` (ISO time or None) per user, in one
        round trip however many users are asked about (search ranks 100 at a time)."""
        if not user_ids:
            return {}
        with self._client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zcount(_sockets_key(user_id), now, "+inf")
            pipe.zmscore(LAST_SEEN_KEY, user_ids)  # type: ignore[no-untyped-call]
            *leases, seen = pipe.execute()
        result: dict[str, dict[str, str | None]] = {}
        for user_id, live, score in zip(user_ids, leases, seen, strict=True):
            last = datetime.fromtimestamp(float(score), UTC).isoformat() if score else None
            result[user_id] = {"status": "ONLINE" if live else "OFFLINE", "lastSeen": last}
        return result
