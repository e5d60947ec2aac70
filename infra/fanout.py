"""Live fan-out between API processes over Redis pub/sub.

A publisher (the ``chat.live`` follower, or an API process for ephemeral typing signals)
publishes JSON to a channel; every API process listens on one pub/sub connection and hands
each payload to the sockets subscribed to that channel in this process. Nothing is shared
in memory between processes, so a socket may land on any replica. In the embedded mode the
in-process Redis stand-in provides the same pub/sub.

Delivery is best-effort by nature of pub/sub: a socket that is not connected misses live
frames and catches up through REST (history, sync), which read the read models.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import redis

log = logging.getLogger(__name__)
Listener = Callable[[dict[str, Any]], None]
CHANNEL_PREFIX = "lm:live:"


PUBLIC_ROOMS_CHANNEL = f"{CHANNEL_PREFIX}chat:public-rooms"


def room_channel(room_id: int) -> str:
    return f"{CHANNEL_PREFIX}chat:room:{room_id}"


def typing_channel(room_id: int) -> str:
    return f"{CHANNEL_PREFIX}chat:room:{room_id}:typing"


def user_channel(user_id: str, queue: str) -> str:
    return f"{CHANNEL_PREFIX}user:{user_id}:{queue}"


class Fanout:
    def __init__(self, client: redis.Redis[bytes], listening_ttl: float) -> None:
        self._client = client
        self._listening_ttl = listening_ttl
        """A listening mark not renewed for this long belongs to a socket that is gone (its
        process died); live sockets renew theirs with their presence lease."""
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._listeners: dict[str, dict[int, Listener]] = {}
        self._lock = threading.Lock()
        self._next_token = 0
        self._thread: Any = None

    def mark_listening(self, channel: str, user_id: str, at: float | None) -> None:
        """Record (``at`` = now) or forget (``None``) that one of the user's sockets listens
        on ``channel``, across processes; entries of a crashed process age out (see
        :meth:`listeners`)."""
        key = f"{CHANNEL_PREFIX}listeners:{channel}"
        if at is None:
            self._client.zrem(key, user_id)
        else:
            self._client.zadd(key, {user_id: at})
            self._client.expire(key, int(self._listening_ttl * 2) + 1)

    def listeners(self, channel: str, now: float) -> set[str]:
        """Users with a socket listening on ``channel`` (refreshed within the TTL)."""
        key = f"{CHANNEL_PREFIX}listeners:{channel}"
        found = self._client.zrangebyscore(key, now - self._listening_ttl, "+inf")
        return {m.decode() if isinstance(m, bytes) else str(m) for m in found}

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        self._client.publish(channel, orjson.dumps(payload))

    def subscribe(self, channel: str, listener: Listener) -> int:
        """Call ``listener(payload)`` (on the fan-out thread) for each message on
        ``channel`` until :meth:`unsubscribe` with the returned token."""
        with self._lock:
            self._next_token += 1
            token = self._next_token
            first = channel not in self._listeners
            self._listeners.setdefault(channel, {})[token] = listener
            if first:
                self._pubsub.subscribe(**{channel: self._dispatch})
            if self._thread is None:
                # The listener blocks until a message arrives (a socket read on Redis, an
                # event in the in-process stand-in); the sleep time only bounds how long it
                # waits before checking whether it should stop.
                self._thread = self._pubsub.run_in_thread(
                    sleep_time=1.0, daemon=True, exception_handler=self._failed
                )
        return token

    def unsubscribe(self, channel: str, token: int) -> None:
        with self._lock:
            listeners = self._listeners.get(channel, {})
            listeners.pop(token, None)
            if not listeners and channel in self._listeners:
                del self._listeners[channel]
                self._pubsub.unsubscribe(channel)

    def close(self) -> None:
        """Stop listening; the listener thread closes the pub/sub connection as it ends."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            self._pubsub.close()
            return
        thread.stop()
        thread.join(timeout=5)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        try:
            payload = orjson.loads(message["data"])
        except orjson.JSONDecodeError:
            log.warning("dropped a malformed payload on %s", channel)
            return
        with self._lock:
            listeners = list(self._listeners.get(channel, {}).values())
        for listener in listeners:
            try:
                listener(payload)
            except Exception:
                log.exception("a live listener failed on %s", channel)

    @staticmethod
    def _failed(error: BaseException, pubsub: Any, thread: Any) -> None:
        log.warning("fan-out connection error (%s); reconnecting", error)
