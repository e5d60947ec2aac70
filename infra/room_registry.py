"""Who is connected to which WebRTC room right now, shared by every API process in Redis.

* Admission: ``POST /room/{id}/join`` admits a user for ``ADMISSION_SECONDS``; the SPA's
  signalling socket carries no token, so the socket is accepted only for an admitted
  (room, user) pair (or a signed room token).
* Seats: each connected socket holds a lease (sorted set ``webrtc:seats:{room}``, score =
  expiry) renewed by its process; the capacity check and the take are one optimistic
  transaction, so two sockets racing for the last seat cannot both get it, and a crashed
  process's seats lapse by themselves.
* Join order: each seat taken gets the room's next number, so every process agrees who
  arrived before whom (the signalling socket tells a newcomer only about earlier arrivals,
  so that exactly one side of each pair makes the WebRTC offer).
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


def _order(room_id: str) -> str:
    return f"webrtc:order:{room_id}"


def _joins(room_id: str) -> str:
    return f"webrtc:joins:{room_id}"


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

    def take_seat(self, room_id: str, user_id: str, capacity: int, state: dict[str, Any]) -> int:
        """Seat the user (a reconnect keeps its seat) and return their place in the join
        order, or raise :class:`RoomFull`. One optimistic transaction over the seats and the
        join counter: two sockets racing for the last seat, or for the same number, cannot
        both win."""
        key, joins = _seats(room_id), _joins(room_id)
        place: list[int] = []

        def take(pipe: redis.client.Pipeline[bytes]) -> None:
            now = time.time()
            taken = cast(list[bytes], pipe.zrangebyscore(key, now, "+inf"))
            if user_id.encode() not in taken and len(taken) >= capacity:
                raise RoomFull(room_id)
            place[:] = [int(cast(bytes | None, pipe.get(joins)) or 0) + 1]
            pipe.multi()
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {user_id: now + self.lease_seconds})
            pipe.hset(_states(room_id), user_id, orjson.dumps(state))
            pipe.set(joins, place[0])
            pipe.hset(_order(room_id), user_id, place[0])
            for name in (key, joins, _states(room_id), _order(room_id)):
                pipe.expire(name, 24 * 3600)

        self._client.transaction(take, key, joins)  # type: ignore[no-untyped-call]
        return place[0]

    def renew(self, room_id: str, user_id: str) -> None:
        self._client.zadd(_seats(room_id), {user_id: time.time() + self.lease_seconds}, xx=True)

    def release(self, room_id: str, user_id: str) -> int:
        """Give the seat up; returns how many seats are still taken."""
        with self._client.pipeline() as pipe:
            pipe.zrem(_seats(room_id), user_id)
            pipe.hdel(_states(room_id), user_id)
            pipe.hdel(_order(room_id), user_id)
            pipe.zcount(_seats(room_id), time.time(), "+inf")
            return int(pipe.execute()[3])

    def update(self, room_id: str, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        state = {**self.state(room_id, user_id), **changes}
        self._client.hset(_states(room_id), user_id, orjson.dumps(state))
        return state

    def state(self, room_id: str, user_id: str) -> dict[str, Any]:
        raw = self._client.hget(_states(room_id), user_id)
        return cast(dict[str, Any], orjson.loads(raw)) if raw else {}

    def participants(self, room_id: str, before: int | None = None) -> list[dict[str, Any]]:
        """Everyone seated now (live leases) in join order; with ``before``, only those who
        took their seat before that place in the order."""
        seated = [
            m.decode() for m in self._client.zrangebyscore(_seats(room_id), time.time(), "+inf")
        ]
        if not seated:
            return []
        with self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(_states(room_id), seated)
            pipe.hmget(_order(room_id), seated)
            states, places = pipe.execute()
        found = [
            (int(place or 0), orjson.loads(raw))
            for raw, place in zip(states, places, strict=True)
            if raw and (before is None or int(place or 0) < before)
        ]
        return [state for _, state in sorted(found, key=lambda item: item[0])]
