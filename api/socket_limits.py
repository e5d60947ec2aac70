"""What one WebSocket may hold, shared by the STOMP sessions and the signalling socket
(issue 23): a place under the caps of sockets per user and per address, an outbox of
bounded size, and the message limit the server enforces.

Close codes a client sees:

=======  ====================================================================================
1009     a message larger than the socket's limit (refused at its frame header by the server)
1013     too many sockets for this user (STOMP: after an ``ERROR`` frame); for an address, or
         a signalling user, the handshake itself is refused with HTTP 429 and ``Retry-After``
1008     the client stopped reading and its outbox filled (``ws_send_buffer_bytes``); as it
         does not read, it usually sees the connection drop instead of the close frame
1000     idle (no frame within ``ws_idle_seconds`` / ``signalling_idle_seconds``)
=======  ====================================================================================
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool

from api.envelope import error
from api.services import Services
from infra.server_protocols import MESSAGE_LIMIT_EXTENSION
from infra.socket_leases import SocketLeases
from infra.spread import spread

log = logging.getLogger(__name__)
TOO_BIG, TRY_LATER, SLOW_READER, IDLE = 1009, 1013, 1008, 1000


def install(app: Any, rt: Services) -> None:
    """The socket leases every socket of this application takes (kept on ``app.state``)."""
    settings = rt.settings
    app.state.socket_leases = SocketLeases(
        rt.redis, settings.presence_ttl_seconds, settings.ws_max_per_user,
        settings.ws_max_per_ip, rt.pepper,
    )  # fmt: skip


def allow_messages_up_to(websocket: WebSocket, size: int) -> None:
    """Raise this socket's largest message above ``ws_max_message_bytes`` where the server
    offers it (infra.server_protocols); elsewhere (the tests' in-process client) the
    session's own check is the limit."""
    hook = websocket.scope.get("extensions", {}).get(MESSAGE_LIMIT_EXTENSION)
    if hook is not None:
        hook["raise_to"](size)


class SocketGuard:
    """One socket's leases under the caps, renewed while it is open."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.leases: SocketLeases = websocket.app.state.socket_leases
        self.socket_id = uuid.uuid4().hex
        self.keys: list[str] = []
        self._keeper: asyncio.Task[None] | None = None

    async def admit_address(self) -> bool:
        address = self.ws.client.host if self.ws.client else ""
        return await self._take(self.leases.address_key(address), self.leases.per_address)

    async def admit_user(self, user_id: str) -> bool:
        return await self._take(self.leases.user_key(user_id), self.leases.per_user)

    async def _take(self, key: str, cap: int) -> bool:
        if not await run_in_threadpool(self.leases.take, key, cap, self.socket_id):
            log.info("refused a socket: %s cap of %d reached", key.split(":")[1], cap)
            return False
        self.keys.append(key)
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep())
        return True

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(spread(self.leases.renew_every))
            try:
                await run_in_threadpool(self.leases.renew, self.keys, self.socket_id)
            except Exception:  # Redis briefly away: the next round renews
                log.warning("could not renew socket leases", exc_info=True)

    def release(self) -> None:
        """Give the leases back. Not awaited, so that it happens even when the session is
        being cancelled (a server stopping); if Redis does not answer, they lapse."""
        if self._keeper is not None:
            self._keeper.cancel()
        if self.keys:
            try:
                self.leases.release(self.keys, self.socket_id)
            except Exception:
                log.warning("could not release socket leases", exc_info=True)

    async def refuse_handshake(self) -> None:
        """HTTP 429 with ``Retry-After`` instead of the upgrade (1013 where the server
        cannot answer a handshake with a response)."""
        retry = str(int(self.leases.renew_every) + 1)
        response = error(429, "too many open sockets", "TOO_MANY_SOCKETS",
                         headers={"Retry-After": retry})  # fmt: skip
        try:
            await self.ws.send_denial_response(response)
        except RuntimeError:
            await self.ws.close(TRY_LATER)


class Outbox:
    """Encoded frames waiting for a socket's writer, at most ``limit`` bytes of them. A
    client that does not read makes the writer wait in the server's send; what arrives
    meanwhile queues here, and once ``limit`` would be passed nothing more is kept and
    :attr:`overflowed` is set: the session then ends instead of buffering forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queued = 0
        self.overflowed = asyncio.Event()
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()

    def put(self, frame: bytes) -> None:
        if self.overflowed.is_set():
            return
        if self.queued + len(frame) > self.limit:
            self.overflowed.set()
            return
        self.queued += len(frame)
        self._frames.put_nowait(frame)

    def end(self) -> None:
        """After the frames queued so far, the writer closes the socket."""
        self._frames.put_nowait(None)

    async def get(self) -> bytes | None:
        frame = await self._frames.get()
        if frame is not None:
            self.queued -= len(frame)
        return frame

    async def until_overflow(self, reading: Coroutine[Any, Any, None]) -> bool:
        """Run a session's receive loop in this task until it ends (False) or the outbox
        overflows (True): the loop is then cancelled, wherever it waits. The loop is not
        moved to a task of its own, so a disconnect is handled as soon as it arrives."""
        main = asyncio.current_task()
        assert main is not None
        watcher = asyncio.create_task(self._cancel_on_overflow(main))
        try:
            await reading
            return False
        except asyncio.CancelledError:
            if self.overflowed.is_set() and main.uncancel() == 0:
                log.info("closed a socket whose client stopped reading")
                return True
            raise  # cancelled from outside (the server stopping)
        finally:
            watcher.cancel()

    async def _cancel_on_overflow(self, main: asyncio.Task[Any]) -> None:
        await self.overflowed.wait()
        main.cancel()
