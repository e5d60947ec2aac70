"""Dependencies shared by the routers: the services each route uses (narrow: a route asks
for the command bus or the read models, not for the whole system), the caller, command
contexts.

The ones that only pick an attribute or read a header are ``async def``: FastAPI runs a
plain ``def`` dependency in a worker thread, and the hops (five of them on a profile save)
cost the event loop more than the work. Whatever may touch Redis, a database or a lazily
built service (the caller's revocation check, ``pepper``, ``redis``...) stays ``def``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated
from uuid import UUID, uuid4

import redis
from annotated_types import Ge, Le
from fastapi import Depends, Header, Request

from api.errors import ApiError
from api.services import Services
from commands.base import C, CommandBus, CommandContext, Handler, Outcome, Result_co
from eventflow.projection import Projection
from eventflow.readmodels import ReadModels
from eventflow.store import EventStore
from infra.blobs import BlobStore
from infra.jobs import JobQueue
from infra.logs import CORRELATION_ID
from infra.presence import Presence
from infra.ratelimit import LoginThrottle, RateLimit
from infra.revocations import Revocations
from infra.room_registry import RoomRegistry
from infra.settings import Settings
from infra.tokens import InvalidToken, TokenClaims, TokenService
from infra.webpush import WebPush
from projections.identity import is_admin
from projections.notifications import UnreadCounters


async def runtime(request: Request) -> Services:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Services, Depends(runtime)]
"""Everything; for dependencies and the few routes that really use many services."""


@dataclass(frozen=True)
class Writes:
    """What a route needs to change the system: the command bus, and the wait that keeps
    its answer from outrunning the read model the SPA reads next."""

    bus: CommandBus
    services: Services

    def issue(
        self,
        handler: Handler[C, Result_co],
        ctx: CommandContext,
        command: C,
        *,
        visible_in: Projection | None = None,
        key: UUID | None = None,
    ) -> Outcome[Result_co]:
        """Run ``command``; with ``visible_in``, wait (bounded) until that read model shows
        what it appended for aggregate ``key``."""
        outcome = handler(self.bus, ctx, command)
        if visible_in is not None and key is not None:
            self.services.wait_applied(visible_in, outcome, key)
        return outcome


async def writes(rt: RuntimeDep) -> Writes:
    return Writes(rt.bus, rt)


async def read_models(rt: RuntimeDep) -> ReadModels:
    return rt.read_models


async def settings(rt: RuntimeDep) -> Settings:
    return rt.settings


def blobs(rt: RuntimeDep) -> BlobStore:
    return rt.blobs


def presence(rt: RuntimeDep) -> Presence:
    return rt.presence


def unread_counters(rt: RuntimeDep) -> UnreadCounters:
    return rt.unread_counters


def web_push(rt: RuntimeDep) -> WebPush:
    return rt.web_push


def room_registry(rt: RuntimeDep) -> RoomRegistry:
    """Who is admitted to and seated in each video room (the signalling socket's state)."""
    return rt.rooms


def room_limit(rt: RuntimeDep) -> RateLimit:
    """The per-address limit on the room routes, which anyone may call without a token."""
    return rt.room_limit


def tokens(rt: RuntimeDep) -> TokenService:
    return rt.tokens


def revocations(rt: RuntimeDep) -> Revocations:
    """The signed-out sessions and users, which the sign-in routes add to."""
    return rt.revocations


def login_throttle(rt: RuntimeDep) -> LoginThrottle:
    return rt.login_throttle


def jobs(rt: RuntimeDep) -> JobQueue:
    """The queue to the AI workers, for the routes that wait for their answer."""
    return rt.jobs


def ai_limit(rt: RuntimeDep) -> RateLimit:
    """The per-user limit on the AI routes, which cost money per call."""
    return rt.ai_limit


if TYPE_CHECKING:
    RedisClient = redis.Redis[bytes]
else:  # redis-py's class is generic only in its stubs; FastAPI reads this at run time
    RedisClient = redis.Redis


def redis_client(rt: RuntimeDep) -> RedisClient:
    """The shared Redis connection, for state several API processes must agree on."""
    return rt.redis


async def event_store(rt: RuntimeDep) -> EventStore:
    """The event log itself: for the admin routes that read an aggregate's history."""
    return rt.store


async def file_origin(request: Request, settings: Annotated[Settings, Depends(settings)]) -> str:
    """This API's origin as browsers see it, for absolute file URLs (``<img>`` tags resolve
    relative ones against the SPA's origin)."""
    return settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


def pepper(rt: RuntimeDep) -> str:
    """The deployment's secret for ids and signatures (export links)."""
    return rt.pepper


async def applied_everywhere(rt: RuntimeDep) -> Callable[[set[Projection]], int]:
    """The event-log position up to which every given read model has applied every event
    (``Services.applied_everywhere``): a catch-up cursor nothing is skipped behind."""
    return rt.applied_everywhere


WritesDep = Annotated[Writes, Depends(writes)]
AppliedEverywhereDep = Annotated[Callable[[set[Projection]], int], Depends(applied_everywhere)]
PepperDep = Annotated[str, Depends(pepper)]
PresenceDep = Annotated[Presence, Depends(presence)]
OriginDep = Annotated[str, Depends(file_origin)]
ReadModelsDep = Annotated[ReadModels, Depends(read_models)]
SettingsDep = Annotated[Settings, Depends(settings)]
BlobsDep = Annotated[BlobStore, Depends(blobs)]
UnreadCountersDep = Annotated[UnreadCounters, Depends(unread_counters)]
WebPushDep = Annotated[WebPush, Depends(web_push)]
RoomRegistryDep = Annotated[RoomRegistry, Depends(room_registry)]
RoomLimitDep = Annotated[RateLimit, Depends(room_limit)]
TokensDep = Annotated[TokenService, Depends(tokens)]
EventStoreDep = Annotated[EventStore, Depends(event_store)]
RevocationsDep = Annotated[Revocations, Depends(revocations)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(login_throttle)]
JobsDep = Annotated[JobQueue, Depends(jobs)]
AiLimitDep = Annotated[RateLimit, Depends(ai_limit)]
RedisDep = Annotated[RedisClient, Depends(redis_client)]

Int64 = Annotated[int, Ge(-(2**63)), Le(2**63 - 1)]
"""A numeric id from the URL: a larger number cannot name a row, and SQLite raised
OverflowError on it (a 500 instead of a 422)."""
MAX_PAGE = 1_000_000
"""Pages past this are empty anyway; the bound keeps ``OFFSET = page x size`` inside the
databases' 64-bit integers (a larger page was a 500)."""


async def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    return _bearer(authorization)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "인증이 필요합니다 (authentication required)", "AUTH_REQUIRED")
    return token.strip()


@dataclass(frozen=True)
class Caller:
    user_id: str
    claims: TokenClaims


def caller(
    request: Request, rt: RuntimeDep, token: Annotated[str, Depends(bearer_token)]
) -> Caller:
    try:
        claims = rt.tokens.verify(token, "access")
    except InvalidToken:
        raise ApiError(
            401, "토큰이 유효하지 않거나 만료되었습니다 (invalid or expired token)", "AUTH_ERROR"
        ) from None
    if rt.revocations.is_revoked(claims.user_id, claims.session_id):
        raise ApiError(401, "로그아웃된 세션입니다 (session signed out)", "SESSION_REVOKED")
    request.state.user_id = claims.user_id
    return Caller(claims.user_id, claims)


CallerDep = Annotated[Caller, Depends(caller)]


def optional_caller(
    request: Request, rt: RuntimeDep, authorization: Annotated[str | None, Header()] = None
) -> Caller | None:
    """The caller when a token is sent (a bad one is still a 401), else ``None``: for the
    room routes, which the SPA calls with ``fetch`` and no token."""
    if authorization is None:
        return None
    return caller(request, rt, _bearer(authorization))


OptionalCallerDep = Annotated[Caller | None, Depends(optional_caller)]


def admin(rt: RuntimeDep, who: CallerDep) -> Caller:
    """The caller, if an operator granted them the admin role (``languagemate users
    grant-admin``). Read from the accounts read model on every request, not from the
    token, so a revocation takes effect at once."""
    if not is_admin(rt.read_models, who.user_id):
        raise ApiError(403, "관리자 권한이 필요합니다 (admin role required)", "ADMIN_REQUIRED")
    return who


AdminDep = Annotated[Caller, Depends(admin)]


async def correlation_id() -> UUID:
    """The request's correlation id, set by ``api.app.RequestContext`` from the
    ``X-Correlation-Id`` header (or made up), so its events and log lines share it."""
    current = CORRELATION_ID.get()
    return UUID(current) if current else uuid4()


async def user_context(
    caller: CallerDep,
    correlation: Annotated[UUID, Depends(correlation_id)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CommandContext:
    """The context of a command a signed-in user issues (``Idempotency-Key`` honoured)."""
    return CommandContext(
        actor_id=caller.user_id, correlation_id=correlation, idempotency_key=idempotency_key
    )


UserContext = Annotated[CommandContext, Depends(user_context)]
