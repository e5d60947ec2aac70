"""WebRTC rooms (contract 4.9) and the JSON signalling socket (contract 5.3).

The SPA calls these with ``fetch`` and no token, and its socket URL carries a self-asserted
``userId``. So: rooms the server creates have unguessable ids; a socket is accepted only
for a room that exists and a user admitted to it through ``POST /room/{id}/join`` in the
last ten minutes, or with a signed room token (returned by join) whose user then counts
instead of the query's; every route and socket counts against a per-IP rate limit; a
token, when sent, identifies the caller. Seats are leases in Redis, so capacity holds
across API processes and a crashed process frees its seats.

Signalling messages travel over Redis pub/sub (one channel per room) to the process that
holds the addressee's socket: offers, answers and ICE candidates reach only their ``to``;
leaves and media-state changes reach everyone else. A message for someone admitted but not
yet connected waits (a minute) and is delivered right after their ``connected``.

Limits (api.socket_limits): a socket counts against its address's and its user's caps (past
them the handshake is answered 429); messages are at most ``ws_max_message_bytes`` (the
server refuses larger ones with close 1009; one that still reaches this code gets an error
reply); a socket silent for ``signalling_idle_seconds`` is closed; frames waiting for a
client that does not read are bounded by ``ws_send_buffer_bytes``.

Who offers: the SPA offers to everyone in ``connected`` (and ``participants-list``) and to
everyone announced by ``participant-joined``. Told both ways, two browsers offer to each
other at once and the call never connects (glare: both end in ``have-local-offer``). So
each pair gets exactly one offerer, the later arrival: a newcomer's lists hold only the
people seated before it (the registry's join order), and an earlier member hears
``participant-joined`` for the newcomer only right after the newcomer's offer to them has
been relayed. Their SPA then answers that offer, and the announcement finds the peer
connection it just made and offers nothing. A newcomer that sends no offer is announced
anyway after ``ANNOUNCE_FALLBACK_SECONDS``, and the earlier member offers instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CallerDep,
    OptionalCallerDep,
    ReadModelsDep,
    RoomLimitDep,
    RoomRegistryDep,
    SettingsDep,
    TokensDep,
    WritesDep,
)
from api.envelope import ok
from api.errors import ApiError
from api.schemas.rooms import Join
from api.services import Services
from api.socket_limits import IDLE, Outbox, SocketGuard
from api.views.rooms import room_view
from commands import rooms as cmd
from commands.base import CommandContext
from domain.rooms import ROOM_ID, room_key
from eventflow.readmodels import ReadModels
from infra.fanout import CHANNEL_PREFIX
from infra.ratelimit import RateLimit, TooManyAttempts
from infra.room_registry import RoomFull
from infra.spread import spread
from infra.tokens import InvalidToken
from projections import rooms as rm

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/room", tags=["rooms"])
PENDING_SECONDS = 60
ANNOUNCE_FALLBACK_SECONDS = 5.0
RELAYED = frozenset({"offer", "answer", "ice-candidate"})
TOGGLES = {"toggle-audio": "audioEnabled", "toggle-video": "videoEnabled",
           "toggle-screen-share": "isScreenSharing"}  # fmt: skip


def _limit(room_limit: RateLimit, ip: str) -> None:
    try:
        room_limit.hit(ip)
    except TooManyAttempts as exc:
        raise ApiError(429, "too many room requests", "TOO_MANY_REQUESTS",
                       headers={"Retry-After": str(exc.retry_after)}) from None  # fmt: skip


def _ip(request: Request | WebSocket) -> str:
    return request.client.host if request.client else ""


def _room(read_models: ReadModels, room_id: str) -> rm.RoomRow:
    row = rm.room_row(read_models, room_id) if ROOM_ID.match(room_id) else None
    if row is None:
        raise ApiError(404, "no such room", "ROOM_NOT_FOUND")
    return row


@router.post("/create")
def create(
    body: cmd.CreateRoom,
    request: Request,
    caller: OptionalCallerDep,
    room_limit: RoomLimitDep,
    writes: WritesDep,
    read_models: ReadModelsDep,
    rooms: RoomRegistryDep,
) -> dict[str, Any]:
    _limit(room_limit, _ip(request))
    user_id = caller.user_id if caller else None
    outcome = cmd.create_room(writes.bus, CommandContext(actor_id=user_id), body,
                              created_by=user_id)  # fmt: skip
    room_id = outcome.result["room_id"]
    writes.services.wait_applied(rm.rooms, outcome, room_key(room_id))
    return ok(room_view(rooms, _room(read_models, room_id)))


@router.get("/active")
def active(caller: CallerDep, read_models: ReadModelsDep, rooms: RoomRegistryDep) -> dict[str, Any]:
    return ok([room_view(rooms, row) for row in rm.active_rooms(read_models, datetime.now(UTC))])


def _room_id(room_id: str) -> str:
    if not ROOM_ID.match(room_id):
        raise ApiError(422, "room ids are 1-64 letters, digits, '-' or '_'", "INVALID_ROOM")
    return room_id


@router.post("/{room_id}/join")
def join(
    room_id: str,
    body: Join,
    request: Request,
    caller: OptionalCallerDep,
    room_limit: RoomLimitDep,
    writes: WritesDep,
    rooms: RoomRegistryDep,
    tokens: TokensDep,
) -> dict[str, Any]:
    """Admit the user to the room's socket (creating a room the SPA named itself)."""
    _limit(room_limit, _ip(request))
    user_id = caller.user_id if caller else body.user_id
    outcome = cmd.open_room(writes.bus, CommandContext(actor_id=user_id),
                            room_id=_room_id(room_id), user_id=user_id)  # fmt: skip
    # the socket looks the room up
    writes.services.wait_applied(rm.rooms, outcome, room_key(room_id))
    seated = rooms.participants(room_id)
    if (
        user_id not in {p["id"] for p in seated}
        and len(seated) >= outcome.result["max_participants"]
    ):
        raise ApiError(409, "Room is full", "ROOM_FULL")
    rooms.admit(room_id, user_id)
    token, _ = tokens.issue(user_id, "room", session_id=room_id)
    return ok({"roomId": room_id, "userId": user_id, "roomToken": token})


@router.post("/{room_id}/leave")
def leave(
    room_id: str, body: Join, request: Request, room_limit: RoomLimitDep, rooms: RoomRegistryDep
) -> dict[str, Any]:
    """The socket's close records the departure; this only ends the admission."""
    _limit(room_limit, _ip(request))
    rooms.revoke(_room_id(room_id), body.user_id)
    return ok({"roomId": room_id, "left": True})


@router.get("/{room_id}/info")
def info(
    room_id: str,
    request: Request,
    room_limit: RoomLimitDep,
    read_models: ReadModelsDep,
    rooms: RoomRegistryDep,
) -> dict[str, Any]:
    _limit(room_limit, _ip(request))
    return ok(room_view(rooms, _room(read_models, room_id)))


@router.get("/{room_id}/ice-servers")
def ice_servers(
    room_id: str, request: Request, caller: OptionalCallerDep, room_limit: RoomLimitDep,
    settings: SettingsDep,
    userId: Annotated[str, Query(max_length=64)] = "guest",  # noqa: N803
) -> dict[str, Any]:  # fmt: skip
    """STUN servers, and TURN servers with credentials that expire (coturn's REST API
    scheme: the username is ``expiry:user``, the password HMAC-SHA1 of it with the shared
    secret, so coturn checks them without calling us)."""
    _limit(room_limit, _ip(request))
    servers: list[dict[str, Any]] = [
        {"urls": url.strip()} for url in settings.stun_urls.split(",") if url.strip()
    ]
    turn = [url.strip() for url in settings.turn_urls.split(",") if url.strip()]
    if turn and settings.turn_secret:
        user = caller.user_id if caller else userId
        username = f"{int(time.time()) + settings.turn_ttl_seconds}:{user}"
        digest = hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1)
        servers.append({"urls": turn, "username": username,
                        "credential": base64.b64encode(digest.digest()).decode()})  # fmt: skip
    return ok({"iceServers": servers, "ttl": settings.turn_ttl_seconds})


# -- signalling --------------------------------------------------------------------------
def room_channel(room_id: str) -> str:
    return f"{CHANNEL_PREFIX}webrtc:{room_id}"


def _pending_key(room_id: str, user_id: str) -> str:
    return f"webrtc:pending:{room_id}:{user_id}"


class Signalling:
    """One participant's socket: admission, seat, relay in both directions, departure.

    It keeps the whole ``Services``: a socket lives outside FastAPI's per-route
    dependencies, and it uses most of them (tokens, room registry, rate limit, read models,
    fan-out, Redis, the bus, settings)."""

    def __init__(self, websocket: WebSocket, rt: Services, room_id: str) -> None:
        self.ws, self.rt, self.room_id = websocket, rt, room_id
        self.outbox = Outbox(rt.settings.ws_send_buffer_bytes)
        self.close_code = 1000
        self.user_id = ""
        self.place = 0
        """This socket's place in the room's join order."""
        self.me: dict[str, Any] = {}
        self.unannounced: set[str] = set()
        """Earlier members not yet told about this one (see the module docstring); the
        relay (a worker thread) and the fallback both take from it, under the lock."""
        self.announcing = threading.Lock()
        self.held: list[dict[str, Any]] | None = []
        """Signals that arrived before ``connected`` was sent; ``None`` once it was."""

    def _admitted_user(self) -> str | None:
        query = self.ws.query_params
        if token := query.get("token"):
            try:
                claims = self.rt.tokens.verify(token, "room")
            except InvalidToken:
                return None
            return claims.user_id if claims.session_id == self.room_id else None
        user_id = query.get("userId", "")
        if ROOM_ID.match(user_id) and self.rt.rooms.is_admitted(self.room_id, user_id):
            return user_id
        return None

    async def run(self) -> None:
        try:
            self.rt.room_limit.hit(_ip(self.ws))
        except TooManyAttempts:
            await self.ws.close(code=4429)
            return
        known = ROOM_ID.match(self.room_id)
        row = rm.room_row(self.rt.read_models, self.room_id) if known else None
        user_id = await run_in_threadpool(self._admitted_user) if row else None
        if row is None or user_id is None:
            await self.ws.close(code=4403)
            return
        guard = SocketGuard(self.ws)
        if not (await guard.admit_address() and await guard.admit_user(user_id)):
            guard.release()
            await guard.refuse_handshake()
            return
        try:
            await self._serve(row, user_id)
        finally:
            guard.release()

    async def _serve(self, row: rm.RoomRow, user_id: str) -> None:
        self.user_id = user_id
        name = self.ws.query_params.get("userName", "Anonymous")[:100]
        self.me = {"id": user_id, "userId": user_id, "name": name, "userName": name,
                   "joinedAt": datetime.now(UTC).isoformat(), "audioEnabled": True,
                   "videoEnabled": row["room_type"] == "video",
                   "isScreenSharing": False}  # fmt: skip
        loop = asyncio.get_running_loop()
        channel = room_channel(self.room_id)

        def deliver(payload: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(self._deliver, payload)

        # Listen before taking the seat: once seated, others may address this socket.
        token = self.rt.fanout.subscribe(channel, deliver)
        try:
            self.place = self.rt.rooms.take_seat(
                self.room_id, user_id, row["max_participants"], self.me
            )
        except RoomFull:
            self.rt.fanout.unsubscribe(channel, token)
            await self.ws.close(code=4409, reason="Room is full")
            return
        await self.ws.accept()
        writer = asyncio.create_task(self._write())
        keeper = asyncio.create_task(self._keep_seat())
        fallback: asyncio.Task[None] | None = None
        overflowed = False
        try:
            await run_in_threadpool(self._record_join, name)
            earlier = self.rt.rooms.participants(self.room_id, before=self.place)
            self._send({"type": "connected", "userId": user_id, "roomData": {
                "id": self.room_id, "participants": [*earlier, self.me],
                "maxParticipants": row["max_participants"], "type": row["room_type"],
                "metadata": {"title": row["title"]}, "settings": {}, "metrics": {}}})  # fmt: skip
            held, self.held = self.held or [], None
            for payload in held:
                self._deliver(payload)
            for waiting in await run_in_threadpool(self._take_pending):
                self.outbox.put(waiting)
            self.unannounced = {p["id"] for p in earlier}
            fallback = asyncio.create_task(self._announce_later())
            overflowed = await self.outbox.until_overflow(self._receive())
        except WebSocketDisconnect:
            pass
        finally:
            for task in (keeper, fallback):
                if task is not None:
                    task.cancel()
            if overflowed:  # the writer waits on a client that does not read: give up
                writer.cancel()
            else:
                self.outbox.end()
            self.rt.fanout.unsubscribe(channel, token)
            self.rt.rooms.release(self.room_id, user_id)
            self._publish({"type": "participant-left", "userId": user_id}, exclude=user_id)
            await run_in_threadpool(self._record_leave)
        if not overflowed:
            await writer

    def _announce(self, member: str) -> None:
        """Tell one earlier member about this socket's user (once)."""
        with self.announcing:
            if member not in self.unannounced:
                return
            self.unannounced.discard(member)
            self._publish({"type": "participant-joined", "participant": self.me}, to=member)

    async def _announce_later(self) -> None:
        await asyncio.sleep(ANNOUNCE_FALLBACK_SECONDS)
        for member in sorted(self.unannounced):
            await run_in_threadpool(self._announce, member)

    async def _receive(self) -> None:
        settings = self.rt.settings
        while True:
            try:  # asyncio.timeout, not wait_for: no task in between, see Outbox
                async with asyncio.timeout(settings.signalling_idle_seconds):
                    message = await self.ws.receive()
            except TimeoutError:
                self.close_code = IDLE
                return
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") or message.get("bytes") or b""
            if len(raw) > settings.ws_max_message_bytes:
                self._send({"type": "error", "message": "message too large"})
                continue
            try:
                signal = orjson.loads(raw)
                kind = str(signal["type"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                self._send({"type": "error", "message": "expected a JSON object with a type"})
                continue
            await self._handle(kind, signal)

    async def _handle(self, kind: str, signal: dict[str, Any]) -> None:
        data: dict[str, Any] = signal["data"] if isinstance(signal.get("data"), dict) else {}
        if kind == "get-participants":
            earlier = self.rt.rooms.participants(self.room_id, before=self.place)
            self._send({"type": "participants-list", "participants": [*earlier, self.me]})
        elif kind in RELAYED:
            target = str(data.get("to") or "")
            if not target:
                self._send({"type": "error", "message": f"{kind} needs data.to"})
                return
            body = data if kind == "ice-candidate" else (data.get("signal") or data)
            await run_in_threadpool(self._relay, target, {"type": kind, "from": self.user_id,
                                                          "data": body})  # fmt: skip
        elif kind in TOGGLES:
            enabled = bool(data.get("enabled"))
            state = self.rt.rooms.update(self.room_id, self.user_id, {TOGGLES[kind]: enabled})
            self._publish({"type": "participant-updated", "participant": state})
            if kind == "toggle-screen-share":
                self._publish({"type": "screen-share-changed", "userId": self.user_id,
                               "enabled": enabled})  # fmt: skip
        elif kind == "chat-message":
            payload = signal["payload"] if isinstance(signal.get("payload"), dict) else {}
            self._publish({"type": "chat-message", "from": self.user_id, "payload": payload},
                          exclude=self.user_id)  # fmt: skip
        elif kind == "ping":
            self._send({"type": "pong", "timestamp": int(time.time() * 1000)})
        else:
            self._send({"type": "error", "message": f"unknown message type {kind[:40]!r}"})

    def _relay(self, target: str, message: dict[str, Any]) -> None:
        """To the addressee's socket, wherever it is; held a minute for someone admitted
        who has not connected yet; dropped for anyone else. An offer to an earlier member
        is followed by this user's announcement to them (after it, in the same order on
        every process: both are published from here, one after the other)."""
        seated = {p["id"] for p in self.rt.rooms.participants(self.room_id)}
        if target in seated:
            self._publish(message, to=target)
            if message["type"] == "offer":
                self._announce(target)
        elif self.rt.rooms.is_admitted(self.room_id, target):
            key = _pending_key(self.room_id, target)
            with self.rt.redis.pipeline() as pipe:
                pipe.rpush(key, orjson.dumps(message))
                pipe.ltrim(key, -200, -1)
                pipe.expire(key, PENDING_SECONDS)
                pipe.execute()

    def _take_pending(self) -> list[bytes]:
        key = _pending_key(self.room_id, self.user_id)
        with self.rt.redis.pipeline() as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            waiting: list[bytes] = pipe.execute()[0]
        return waiting

    def _publish(
        self, message: dict[str, Any], *, to: str | None = None, exclude: str | None = None
    ) -> None:
        payload = {"to": to, "exclude": exclude, "message": message}
        self.rt.fanout.publish(room_channel(self.room_id), payload)

    def _deliver(self, payload: dict[str, Any]) -> None:
        if payload.get("to") not in (None, self.user_id) or payload.get("exclude") == self.user_id:
            return
        if self.held is not None:
            self.held.append(payload)
            return
        self._send(payload["message"])

    def _send(self, message: dict[str, Any]) -> None:
        self.outbox.put(orjson.dumps(message))

    async def _write(self) -> None:
        while (data := await self.outbox.get()) is not None:
            try:
                await self.ws.send_text(data.decode())
            except (WebSocketDisconnect, RuntimeError):
                return
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.ws.close(self.close_code)

    async def _keep_seat(self) -> None:
        while True:
            await asyncio.sleep(spread(self.rt.rooms.lease_seconds / 3))
            with contextlib.suppress(Exception):  # Redis briefly away: the next round renews
                await run_in_threadpool(self.rt.rooms.renew, self.room_id, self.user_id)

    def _context(self) -> CommandContext:
        return CommandContext(actor_id=self.user_id)

    def _record_join(self, name: str) -> None:
        cmd.join_call(self.rt.bus, self._context(), room_id=self.room_id,
                      user_id=self.user_id, user_name=name)  # fmt: skip

    def _record_leave(self) -> None:
        try:
            cmd.leave_room(self.rt.bus, self._context(), room_id=self.room_id,
                           user_id=self.user_id)  # fmt: skip
        except Exception:  # the departure is recorded on a best-effort basis at close
            log.exception("could not record a room departure")


@router.websocket("/{room_id}/ws")
async def signalling(websocket: WebSocket, room_id: str) -> None:
    await Signalling(websocket, websocket.app.state.runtime, room_id).run()
