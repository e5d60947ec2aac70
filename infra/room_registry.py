"""Who is connected to which WebRTC room right now, shared by every API process in Redis.

* Admission: ``POST /room/{id}/join`` admits a user for ``ADMISSION_SECONDS``; the SPA's
  signalling socket carries no token, so the socket is accepted only for an admitted
  (room, user) pair (or a signed room token).
* Seats: each connected socket holds a lease (sorted set ``webrtc:seats:{room}``, score =
  expiry) renewed by its process; the capacity check and the take are one optimistic
  transaction, so two sockets racing for the last seat cannot both get it, and a crashed
  process's seats lapse by themselves.
* Media state (audio/video/screen share) per participant, for ``connected`` and
  ``participants-list``.
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
import redis

ADMISSION_SECONDS = 600


def _seats(room_id: str) -> str:
    return f"webrtc:seats:{room_id}"


def _states(room_id: str) -> str:
    return f"webrtc:state:{room_id}"


def _admitted(room_id: str, user_id: str) -> str:
    return f"webrtc:admitted:{room_id}:{user_id}"


class RoomFull(Exception):
    pass


class RoomRegistry:
    def __init__(self, client: redis.Redis[bytes], lease_seconds: float) -> None:
        self._client = client
        self.lease_seconds = lease_seconds

    def admit(self, room_id: str, user_id: str) -> None:
        self._client.set(_admitted(room_id, user_id), b"1", ex=ADMISSION_SECONDS)

    def revoke(self, room_id: str, user_id: str) -> None:
        self._client.delete(_admitted(room_id, user_id))

    def is_admitted(self, room_id: str, user_id: str) -> bool:
        return bool(self._client.exists(_admitted(room_id, user_id)))

    def take_seat(self, room_id: str, user_id: str, capacity: int, state: dict[str, Any]) -> None:
        """Seat the user (a reconnect keeps its seat) or raise :class:`RoomFull`."""
        key = _seats(room_id)

        def take(pipe: redis.client.Pipeline[bytes]) -> None:
            now = time.time()
            taken = cast(list[bytes], pipe.zrangebyscore(key, now, "+inf"))
            if user_id.encode() not in taken and len(taken) >= capacity:
                raise RoomFull(room_id)
            pipe.multi()
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {user_id: now + self.lease_seconds})
            pipe.hset(_states(room_id), user_id, orjson.dumps(state))
            pipe.expire(key, 24 * 3600)
            pipe.expire(_states(room_id), 24 * 3600)

        self._client.transaction(take, key)  # type: ignore[no-untyped-call]

    def renew(self, room_id: str, user_id: str) -> None:
        self._client.zadd(_seats(room_id), {user_id: time.time() + self.lease_seconds}, xx=True)

    def release(self, room_id: str, user_id: str) -> int:
        """Give the seat up; returns how many seats are still taken."""
        with self._client.pipeline() as pipe:
            pipe.zrem(_seats(room_id), user_id)
            pipe.hdel(_states(room_id), user_id)
            pipe.zcount(_seats(room_id), time.time(), "+inf")
            return int(pipe.execute()[2])

    def update(self, room_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        state = {**self.state(room_id, user_id), **changes}
        self._client.hset(_states(room_id), user_id, orjson.dumps(state))
        return state

    def state(self, room_id: str, user_id: str) -> dict[str, Any]:
        raw = self._client.hget(_states(room_id), user_id)
        return cast(dict[str, Any], orjson.loads(raw)) if raw else {}

    def participants(self, room_id: str) -> list[dict[str, Any]]:
        """Everyone seated now (live leases), oldest seat first."""
        seated = [
            m.decode() for m in self._client.zrangebyscore(_seats(room_id), time.time(), "+inf")
        ]
        if not seated:
            return []
        states = self._client.hmget(_states(room_id), seated)
        found = [orjson.loads(raw) for raw in states if raw]
        return sorted(found, key=lambda p: str(p.get("joinedAt", "")))
