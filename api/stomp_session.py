"""One STOMP 1.2 connection over a WebSocket (contract section 5): the protocol part that
every socket shares, with the destinations left to a :class:`Destinations` per endpoint.

* CONNECT (or STOMP) must come first, within ``ws_auth_timeout_seconds``, and carry an
  access token (``Authorization`` header, or the ``token`` query parameter); a bad one gets
  ``ERROR`` ``message:Unauthorized`` and close code 1008. CONNECTED answers ``version:1.2``
  and asks for client heart-beats; a client silent for ``ws_idle_seconds`` (three missed
  beats) is dropped. While the socket is open its process keeps the user's presence lease
  (infra.presence) and its listening marks renewed.
* Limits (api.socket_limits): the socket counts against its address's cap from the
  handshake and its user's from CONNECT (``ERROR`` ``Too many connections``, close 1013);
  frames may be ``ws_max_message_bytes`` until CONNECT, then what the endpoint allows (the
  chat socket: a voice message); frames waiting for a client that does not read are
  bounded by ``ws_send_buffer_bytes``, past which the socket is closed.
* SUBSCRIBE to a destination the endpoint refuses (not a member of the room) is ignored and
  logged, never an ``ERROR``: the SPA treats ERROR as fatal and reconnects in a loop. The
  same goes for business errors on SEND.
* Frames that are not STOMP end the connection with ``ERROR``.
* DISCONNECT with a ``receipt`` header is answered with RECEIPT before closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any, Protocol

import orjson
from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from api.services import Services
from api.socket_limits import TRY_LATER, Outbox, SocketGuard, allow_messages_up_to
from api.stomp import HEARTBEAT, Frame, FrameError, FrameParser
from domain.errors import DomainError
from infra.settings import DEFAULT_CHAT_VOICE_MAX_BYTES, chat_frame_limit
from infra.spread import spread
from infra.tokens import InvalidToken

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = chat_frame_limit(DEFAULT_CHAT_VOICE_MAX_BYTES)
"""The chat socket's largest frame under the default settings: a voice message arrives
inside one SEND as a base64 data URL (``Settings.chat_frame_max_bytes``)."""


class Destinations(Protocol):
    """What one endpoint allows: where a user may subscribe, and what a SEND does."""

    def channel_for(self, rt: Services, user_id: str, destination: str) -> str | None:
        """The fan-out channel behind ``destination``, or ``None`` to refuse it."""
        ...

    def on_send(self, rt: Services, user_id: str, destination: str, body: bytes) -> None:
        """Handle a SEND (runs in a worker thread; raise DomainError to refuse it)."""
        ...


class StompSession:
    def __init__(
        self, websocket: WebSocket, rt: Services, destinations: Destinations, *,
        max_frame_bytes: int | None = None,
    ) -> None:  # fmt: skip
        """``max_frame_bytes``: the largest frame once signed in (before CONNECT, and by
        default, ``ws_max_message_bytes``)."""
        self.ws, self.rt, self.destinations = websocket, rt, destinations
        settings = rt.settings
        self.signed_in_frame_bytes = max(max_frame_bytes or 0, settings.ws_max_message_bytes)
        self.parser = FrameParser(settings.ws_max_message_bytes)
        self.user_id: str | None = None
        self.outbox = Outbox(settings.ws_send_buffer_bytes)
        self.guard = SocketGuard(websocket)
        self.subscriptions: dict[str, tuple[str, int]] = {}
        self.message_ids = itertools.count(1)
        self.socket_id = self.guard.socket_id
        self.close_code = 1000

    async def run(self) -> None:
        if not await self.guard.admit_address():
            await self.guard.refuse_handshake()
            return
        try:
            await self._serve()
        finally:
            self.guard.release()

    async def _serve(self) -> None:
        await self.ws.accept()
        self.loop = asyncio.get_running_loop()
        writer = asyncio.create_task(self._write())
        keeper = asyncio.create_task(self._keep_present())
        overflowed = False
        try:
            overflowed = await self.outbox.until_overflow(self._read())
        finally:
            keeper.cancel()
            for subscription in list(self.subscriptions):
                self._unsubscribe(subscription)
            if self.user_id:
                self.rt.presence.release(self.user_id, self.socket_id, time.time())
            if overflowed:  # the writer waits on a client that does not read: give up
                writer.cancel()
            else:
                self.outbox.end()
        if not overflowed:
            await writer

    async def _read(self) -> None:
        settings = self.rt.settings
        try:
            while True:
                timeout = settings.ws_auth_timeout_seconds
                if self.user_id is not None:
                    timeout = settings.ws_idle_seconds
                async with asyncio.timeout(timeout):
                    message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("text") or message.get("bytes") or b""
                try:
                    frames = self.parser.feed(data)
                except FrameError as exc:
                    self._fail(str(exc), code=1002)
                    return
                if not await self._handle_all(frames):
                    return
        except (TimeoutError, WebSocketDisconnect):
            pass

    async def _handle_all(self, frames: list[Frame]) -> bool:
        """Handle frames in order; False once the connection must end. A server-side failure
        (a database that is briefly unreachable) drops that frame, not the connection."""
        for frame in frames:
            try:
                if not await self._handle(frame):
                    return False
            except Exception:
                log.exception("a %s frame failed", frame.command)
        return True

    async def _handle(self, frame: Frame) -> bool:
        if frame is HEARTBEAT:
            return True
        if self.user_id is None and frame.command not in ("CONNECT", "STOMP"):
            self._fail("CONNECT first")
            return False
        if frame.command in ("CONNECT", "STOMP"):
            return await self._connect(frame)
        if frame.command == "SUBSCRIBE":
            await self._subscribe(frame)
        elif frame.command == "UNSUBSCRIBE":
            self._unsubscribe(frame.headers.get("id", ""))
            self._receipt(frame)
        elif frame.command == "SEND":
            await self._send(frame)
        elif frame.command == "DISCONNECT":
            self._receipt(frame)
            return False
        else:  # ACK, NACK, transactions: nothing to do with auto-ack subscriptions
            self._receipt(frame)
        return True

    async def _connect(self, frame: Frame) -> bool:
        header = frame.headers.get("Authorization") or frame.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or self.ws.query_params.get("token", "")
        try:
            claims = self.rt.tokens.verify(token, "access")
            revoked = self.rt.revocations.is_revoked(claims.user_id, claims.session_id)
        except InvalidToken:
            revoked = True
        if revoked:
            self._fail("Unauthorized", code=1008)
            return False
        if not await self.guard.admit_user(claims.user_id):
            self._fail("Too many connections", code=TRY_LATER)
            return False
        self.user_id = claims.user_id
        self.parser.max_frame_bytes = self.signed_in_frame_bytes
        allow_messages_up_to(self.ws, self.signed_in_frame_bytes)
        self._renew()
        beat_ms = int(self.rt.settings.ws_idle_seconds * 1000 / 3)
        self._enqueue(Frame("CONNECTED", {"version": "1.2", "heart-beat": f"0,{beat_ms}"}))
        return True

    async def _subscribe(self, frame: Frame) -> None:
        assert self.user_id is not None
        subscription, destination = (
            frame.headers.get("id", ""),
            frame.headers.get("destination", ""),
        )
        channel = await run_in_threadpool(
            self.destinations.channel_for, self.rt, self.user_id, destination
        )
        if channel is None or not subscription:
            log.info("refused a subscription to %s", destination)
            return
        self._unsubscribe(subscription)

        def deliver(payload: dict[str, Any]) -> None:
            self.loop.call_soon_threadsafe(self._message, subscription, destination, payload)

        self.subscriptions[subscription] = (channel, self.rt.fanout.subscribe(channel, deliver))
        self.rt.fanout.mark_listening(channel, self.user_id, time.time())
        self._receipt(frame)

    def _unsubscribe(self, subscription: str) -> None:
        found = self.subscriptions.pop(subscription, None)
        if found is not None:
            self.rt.fanout.unsubscribe(*found)
            if self.user_id and found[0] not in {c for c, _ in self.subscriptions.values()}:
                self.rt.fanout.mark_listening(found[0], self.user_id, None)

    async def _send(self, frame: Frame) -> None:
        assert self.user_id is not None
        destination = frame.headers.get("destination", "")
        try:
            await run_in_threadpool(
                self.destinations.on_send, self.rt, self.user_id, destination, frame.body
            )
        except (DomainError, ValueError) as exc:
            log.info("dropped a SEND to %s: %s", destination, exc)
            return
        self._receipt(frame)

    def _message(self, subscription: str, destination: str, payload: dict[str, Any]) -> None:
        headers = {
            "subscription": subscription,
            "message-id": f"{subscription}-{next(self.message_ids)}",
            "destination": destination,
            "content-type": "application/json",
        }
        self._enqueue(Frame("MESSAGE", headers, orjson.dumps(payload)))

    def _receipt(self, frame: Frame) -> None:
        if "receipt" in frame.headers:
            self._enqueue(Frame("RECEIPT", {"receipt-id": frame.headers["receipt"]}))

    def _enqueue(self, frame: Frame) -> None:
        self.outbox.put(frame.encode())

    def _fail(self, message: str, code: int = 1002) -> None:
        self._enqueue(Frame("ERROR", {"message": message}))
        self.outbox.end()
        self.close_code = code

    async def _write(self) -> None:
        while (data := await self.outbox.get()) is not None:
            try:
                await self.ws.send_text(data.decode("utf-8"))
            except (WebSocketDisconnect, RuntimeError):
                return
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.close(self.close_code)

    async def _keep_present(self) -> None:
        """Renew this socket's presence lease and listening marks while it is open; if the
        process dies nobody renews them and they lapse (see infra.presence)."""
        while True:
            await asyncio.sleep(spread(self.rt.presence.renew_every))
            if self.user_id:
                try:
                    await run_in_threadpool(self._renew)
                except Exception:  # Redis briefly away: the next round renews
                    log.warning("could not renew presence", exc_info=True)

    def _renew(self) -> None:
        assert self.user_id is not None
        now = time.time()
        self.rt.presence.renew(self.user_id, self.socket_id, now)
        for channel in {c for c, _ in self.subscriptions.values()}:
            self.rt.fanout.mark_listening(channel, self.user_id, now)
