"""Caps on open sockets per user and per client address, over every API process.

Each open socket holds a lease in up to two Redis sorted sets, one for its client address
and, once it knows its user, one for the user (member: the socket's id, score: when the
lease lapses). Taking a lease drops the lapsed ones, counts the live ones and adds this one
in one optimistic transaction, so two sockets racing for the last place on two processes
cannot both get it. The process renews its sockets' leases while they are open and removes
them when they close; a crashed process's leases lapse after the TTL, as presence leases do
(infra.presence). Addresses are keyed by a peppered digest: Redis holds no IP address.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import cast

import redis


class SocketLeases:
    def __init__(
        self, client: redis.Redis[bytes], ttl_seconds: float, per_user: int, per_address: int,
        pepper: str,
    ) -> None:  # fmt: skip
        self._client = client
        self.ttl_seconds = ttl_seconds
        self.per_user, self.per_address = per_user, per_address
        self._pepper = pepper.encode()

    @property
    def renew_every(self) -> float:
        return self.ttl_seconds / 3

    def user_key(self, user_id: str) -> str:
        return f"sockets:user:{user_id}"

    def address_key(self, address: str) -> str:
        digest = hmac.new(self._pepper, address.encode(), hashlib.sha256).hexdigest()[:32]
        return f"sockets:address:{digest}"

    def take(self, key: str, cap: int, socket_id: str) -> bool:
        """Add the socket to ``key``'s leases unless ``cap`` live ones are there already."""
        taken: list[bool] = []

        def attempt(pipe: redis.client.Pipeline[bytes]) -> None:
            now = time.time()
            live = cast(int, pipe.zcount(key, now, "+inf"))
            held = pipe.zscore(key, socket_id) is not None
            taken[:] = [held or live < cap]
            if not taken[0]:
                return
            pipe.multi()
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {socket_id: now + self.ttl_seconds})
            pipe.expire(key, int(self.ttl_seconds * 2) + 1)

        self._client.transaction(attempt, key)  # type: ignore[no-untyped-call]
        return taken[0]

    def renew(self, keys: list[str], socket_id: str) -> None:
        expiry = time.time() + self.ttl_seconds
        with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zadd(key, {socket_id: expiry}, xx=True)
                pipe.expire(key, int(self.ttl_seconds * 2) + 1)
            pipe.execute()

    def release(self, keys: list[str], socket_id: str) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, socket_id)
            pipe.execute()

    def count(self, key: str) -> int:
        """Live leases under ``key`` (for tests and operators)."""
        return int(self._client.zcount(key, time.time(), "+inf"))
