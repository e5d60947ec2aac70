"""Load generator (issue 9): virtual users doing what SPA users do, at open-loop arrival
rates that step up until latency or errors give way, against the distributed topology.

A virtual user signs in (dev-login, or register then password login), goes through the five
onboarding sections as the SPA posts them, then searches for partners, sends match requests
to other virtual users it found, accepts the ones it received, chats with its matches over
STOMP (``/ws/chat``), proposes sessions and accepts proposals, reads its rooms and
notifications, and rarely (``--level-tests``) takes the voice level test with an espeak-ng
recording. Each arrival is one such *action* (1 to 7 requests) by an idle user: arrivals
follow a fixed schedule whether or not earlier actions have finished (open loop), so an
overloaded server shows up as latency and errors, not as a politely slower client.

For every step (``--rates``, each ``--step-seconds``) the report gives per-endpoint p50/p95/
p99 and 4xx/5xx counts, actions per kind, events appended per second (counted in the event
store), projection freshness (command answered -> effect visible in a read-model-backed GET:
a policy's chat room, a policy's notification, a message in the history), CPU and RSS per
process, and then the knee (the highest step, from the bottom, without errors, shed arrivals
or a p99 over ``--p99-limit-ms``) and the first resource to saturate.

    python bench/loadgen.py [--rates 2,4,6,8,12,16] [--step-seconds 30] [--users 100]
    python bench/loadgen.py --base-url http://127.0.0.1:8000,http://127.0.0.1:8001 \\
        --database-url postgresql://...    # drive a topology started elsewhere
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import uvloop
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.distributed import (  # noqa: E402
    BACKGROUND_ROLES,
    StompSocket,
    settle,
    topology,
    write_report,
)
from bench.load import percentile  # noqa: E402
from bench.procstat import ProcessGroups, usage  # noqa: E402
from bench.server_metrics import Scrape  # noqa: E402
from eventflow.store import EVENTS_TABLE  # noqa: E402

SPOKEN_ANSWER = (
    "I live in Seoul and I work at a bank. On weekends I like hiking with my friends, and I "
    "study English because I want to travel and talk with people from other countries."
)
LEVEL_TEST_WAIT = 300.0
"""Seconds a level test's result may take (Whisper and the scorer share the CPU)."""
LONG_POLLS = frozenset({"POST /api/v1/level-test/voice/{id}/analyze"})
"""Endpoints that wait on purpose (``analyze`` holds up to LEVEL_TEST_WAIT_SECONDS for the
result): reported, but kept out of the overall percentiles that decide the knee."""
ONBOARDED = 6
"""Stage of a user who has signed in (1) and saved the five onboarding sections (2..6)."""


class StepFailed(Exception):
    """An action's request got an answer the scenario did not expect."""


class ShedByServer(StepFailed):
    """An action's request was answered 503 ``OVERLOADED``: the server refused it before
    doing anything (api/admission.py), which is no error but a process past its bound."""


# -- measurements ------------------------------------------------------------------------
@dataclass
class Stats:
    """Everything one step measured. Requests and actions land in the step they started in,
    so a slow answer that arrives after the step ended still counts against that step."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Per endpoint, the requests the server served (answered anything but a shed)."""
    shed_latencies: list[float] = field(default_factory=list)
    """How quickly the server's sheds came back: they are kept out of ``latencies``, so
    that fast refusals do not flatter the percentiles of the requests it served."""
    statuses: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    actions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    freshness: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    writes_accepted: int = 0
    arrivals: int = 0
    shed: int = 0
    unfinished: int = 0
    probe_failures: int = 0

    def request(self, endpoint: str, seconds: float, outcome: str) -> None:
        served = self.shed_latencies if outcome == "shed" else self.latencies[endpoint]
        served.append(seconds * 1000)
        self.statuses[endpoint][outcome] += 1

    def shed_by_server(self) -> int:
        return sum(c["shed"] for c in self.statuses.values())

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what[:300])

    def errors(self) -> int:
        """Requests answered 5xx (a shed aside) or not at all, actions that failed (an
        unexpected 4xx included) or never ended, and effects that never became visible."""
        failed = sum(c["failed"] for c in self.actions.values())
        broken = sum(c["5xx"] + c["transport"] for c in self.statuses.values())
        return failed + broken + self.unfinished + self.probe_failures


def _quantiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values, default=0.0), 1),
    }


# -- virtual users -----------------------------------------------------------------------
@dataclass
class ChatSocket:
    """A user's open ``/ws/chat`` connection; MESSAGE frames resolve waiting senders."""

    stomp: StompSocket
    subscribed: set[int] = field(default_factory=set)
    receipts: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class User:
    index: int
    base: str
    email: str
    native: int
    target: int
    id: str = ""
    token: str = ""
    stage: int = 0
    busy: bool = False
    partners: dict[str, int] = field(default_factory=dict)
    """Matched partner id -> their 1:1 room id (0 until the policy's room is visible)."""
    socket: ChatSocket | None = None
    tested: bool = False
    account: str = ""
    """How its account was made ("dev" or "password"; "" before): a sign-in that a shed
    interrupted after the account was made signs in the same way again."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Population:
    """The virtual users and what they know of each other, as the SPA would learn it."""

    users: list[User]
    linked: set[frozenset[str]] = field(default_factory=set)
    pending_requests: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    pending_sessions: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_id: dict[str, User] = field(default_factory=dict)
    slots: int = 0
    level_tests: int = 0

    def next_slot(self) -> datetime:
        """A start no other session of the run overlaps (agendas refuse double bookings)."""
        self.slots += 1
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return start + timedelta(days=2, minutes=45 * self.slots)


class Scenario:
    """The actions of the SPA's journeys, issued over HTTP and STOMP for one user at a time,
    with every request timed under its route template."""

    def __init__(
        self,
        clients: dict[str, aiohttp.ClientSession],
        population: Population,
        *,
        freshness_share: float,
        level_test_share: float,
        max_level_tests: int,
        recording: bytes | None,
        register_share: float,
    ) -> None:
        self.clients, self.population = clients, population
        self.freshness_share, self.level_test_share = freshness_share, level_test_share
        self.max_level_tests, self.recording = max_level_tests, recording
        self.register_share = register_share
        self.background: set[asyncio.Task[None]] = set()
        self.echoes: dict[str, tuple[float, asyncio.Future[float]]] = {}
        self.deliveries: dict[str, tuple[float, Stats]] = {}

    # -- plumbing --------------------------------------------------------------------------
    async def call(
        self,
        stats: Stats,
        user: User,
        method: str,
        endpoint: str,
        path: str | None = None,
        *,
        ok: tuple[int, ...] = (200,),
        authorised: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One request, timed under ``endpoint`` (the route template); the JSON body, or
        ``StepFailed`` for an answer outside ``ok``."""
        started = time.perf_counter()
        headers = user.headers if authorised else {}
        if files := kwargs.pop("files", None):
            kwargs["data"] = _form(files)
        try:
            async with self.clients[user.base].request(
                method, path or endpoint, headers=headers, **kwargs
            ) as response:
                code, content = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            stats.request(f"{method} {endpoint}", time.perf_counter() - started, "transport")
            raise StepFailed(f"{method} {endpoint}: {type(exc).__name__}") from None
        outcome = "5xx" if code >= 500 else "4xx" if code >= 400 else "2xx"
        if code == 503 and _error_code(content) == "OVERLOADED":
            outcome = "shed"
        stats.request(f"{method} {endpoint}", time.perf_counter() - started, outcome)
        if outcome == "shed":
            raise ShedByServer(f"{method} {endpoint}: shed by the server")
        if code not in ok:
            raise StepFailed(f"{method} {endpoint}: {code} {content[:200]!r}")
        if method != "GET" and code < 300:
            stats.writes_accepted += 1
        return json.loads(content) if content else None

    def spawn(self, coroutine: Awaitable[object]) -> None:
        """Work that follows an action without holding its user (freshness probes)."""

        async def guarded() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await coroutine

        task = asyncio.ensure_future(guarded())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def probe(
        self,
        stats: Stats,
        name: str,
        since: float,
        check: Callable[[], Awaitable[bool]],
        timeout: float = 30.0,
    ) -> bool:
        """Poll ``check`` until it is true; record the seconds since ``since`` (a command's
        answer) as the freshness of ``name``. The interval grows from 50 ms to 500 ms, so a
        slow effect does not turn the probe into load of its own."""
        deadline, interval = time.perf_counter() + timeout, 0.05
        while time.perf_counter() < deadline:
            try:
                if await check():
                    stats.freshness[name].append((time.perf_counter() - since) * 1000)
                    return True
            except ShedByServer:
                pass  # a poll refused is no answer: poll again
            except StepFailed as failed:
                stats.probe_failures += 1
                stats.fail(f"probe {name}: {failed}")
                return False
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, 0.5)
        stats.probe_failures += 1
        stats.fail(f"probe {name}: not visible after {timeout} s")
        return False

    def choose(self, user: User) -> str:
        """The user's next action: sign-in, then the onboarding sections in order, then a
        weighted pick among what the user can do right now. Answering a request or a
        proposal weighs most (people act on what is waiting for them), then chatting with
        a match; searching and browsing fill the rest, and sessions are proposed rarely."""
        if user.stage == 0:
            return "sign_in"
        if user.stage < ONBOARDED:
            return (
                "onboard_info",
                "onboard_language",
                "onboard_interests",
                "onboard_partner",
                "onboard_schedule",
            )[user.stage - 1]
        rooms = [r for r in user.partners.values() if r]
        options: dict[str, float] = {"search": 3.0, "browse": 2.0}
        if self._candidates(user):
            options["request"] = 2.0
        if self.population.pending_requests[user.id]:
            options["accept"] = 6.0
        if rooms:
            options["chat"] = 5.0
            options["propose_session"] = 0.7
        if self.population.pending_sessions[user.id]:
            options["accept_session"] = 4.0
        if (
            self.recording is not None
            and not user.tested
            and self.population.level_tests < self.max_level_tests
        ):
            options["level_test"] = self.level_test_share * sum(options.values())
        kinds = list(options)
        return random.choices(kinds, weights=[options[k] for k in kinds])[0]

    def _candidates(self, user: User) -> list[User]:
        return [
            other
            for other in self.population.users
            if other.stage >= ONBOARDED
            and other is not user
            and frozenset((user.id, other.id)) not in self.population.linked
        ]

    async def act(self, stats: Stats, user: User, kind: str) -> None:
        await getattr(self, kind)(stats, user)

    # -- sign-in and onboarding ------------------------------------------------------------
    async def sign_in(self, stats: Stats, user: User) -> None:
        who = {"email": user.email, "name": f"Load {user.index}"}
        if not user.account and random.random() < self.register_share:
            await self.call(
                stats,
                user,
                "POST",
                "/api/v1/auth/register",
                authorised=False,
                json=who | {"password": "correct horse battery"},
            )
            user.account = "password"
        if user.account == "password":
            body = await self.call(
                stats,
                user,
                "POST",
                "/api/v1/auth/login",
                authorised=False,
                json={"email": user.email, "password": "correct horse battery"},
            )
        else:
            body = await self.call(
                stats, user, "POST", "/api/v1/auth/dev-login", authorised=False, json=who
            )
            user.account = "dev"
        user.id, user.token = body["data"]["user"]["id"], body["data"]["accessToken"]
        self.population.by_id[user.id] = user
        await self.call(stats, user, "GET", "/api/v1/users/onboarding-status")
        user.stage = 1

    async def _section(
        self,
        stats: Stats,
        user: User,
        catalogue: str,
        posts: list[tuple[str, Any]],
        *,
        parallel: bool = False,
    ) -> None:
        await self.call(stats, user, "GET", catalogue)
        if parallel:  # ObInt4 saves its four lists at once
            # All four are awaited even when one fails (a shed): a request left running
            # after its action ended would count against whatever the user did next.
            saved = await asyncio.gather(
                *(self.call(stats, user, "POST", p, json=b) for p, b in posts),
                return_exceptions=True,
            )
            if problems := [s for s in saved if isinstance(s, BaseException)]:
                raise min(problems, key=lambda p: isinstance(p, ShedByServer))  # errors first
        else:
            for path, body in posts:
                await self.call(stats, user, "POST", path, json=body)
        user.stage += 1

    async def onboard_info(self, stats: Stats, user: User) -> None:
        await self._section(
            stats,
            user,
            "/api/v1/users/locations",
            [
                (
                    "/api/v1/onboarding/steps/1/save",
                    {
                        "stepNumber": 1,
                        "stepData": {
                            "englishName": f"Load {user.index}",
                            "residence": "",
                            "profileImage": None,
                            "intro": "",
                        },
                    },
                ),
                ("/api/v1/users/location", {"locationId": random.randint(1, 5)}),
                (
                    "/api/v1/users/self-bio",
                    {
                        "selfBio": random.choice(
                            [
                                "I love hiking and films.",
                                "Coffee, books, travel.",
                                "I cook and I play the guitar.",
                            ]
                        )
                    },
                ),
                ("/api/v1/users/birthyear", {"birthyear": str(random.randint(1975, 2004))}),
                ("/api/v1/users/gender", {"genderType": random.choice(["MALE", "FEMALE"])}),
            ],
        )

    async def onboard_language(self, stats: Stats, user: User) -> None:
        level = random.randint(101, 105)
        await self._section(
            stats,
            user,
            "/api/v1/onboarding/language/languages",
            [
                ("/api/v1/onboarding/language/native-language", {"languageId": user.native}),
                (
                    "/api/v1/onboarding/language/language-level",
                    {
                        "languages": [
                            {
                                "languageId": user.target,
                                "currentLevelId": level,
                                "targetLevelId": level,
                            }
                        ]
                    },
                ),
                (
                    "/api/v1/onboarding/language/language-level",
                    {
                        "languages": [
                            {
                                "languageId": user.target,
                                "currentLevelId": 201,
                                "targetLevelId": random.randint(201, 203),
                            }
                        ]
                    },
                ),
            ],
        )

    async def onboard_interests(self, stats: Stats, user: User) -> None:
        def pick(n: int, of: int) -> list[int]:
            return sorted(random.sample(range(1, of + 1), n))

        await self._section(
            stats,
            user,
            "/api/v1/onboarding/interest/topics",
            [
                ("/api/v1/onboarding/interest/motivation", {"motivationIds": pick(2, 9)}),
                ("/api/v1/onboarding/interest/topic", {"topicIds": pick(3, 9)}),
                ("/api/v1/onboarding/interest/learning-style", {"learningStyleIds": pick(1, 3)}),
                (
                    "/api/v1/onboarding/interest/learning-expectation",
                    {"learningExpectationIds": pick(1, 4)},
                ),
            ],
            parallel=True,
        )

    async def onboard_partner(self, stats: Stats, user: User) -> None:
        await self._section(
            stats,
            user,
            "/api/v1/onboarding/partner/personalities",
            [
                ("/api/v1/onboarding/partner/gender", {"partnerGenderType": "ANY"}),
                (
                    "/api/v1/onboarding/partner/personality",
                    {"personalPartnerIds": [{"partnerPersonalityId": random.randint(1, 4)}]},
                ),
            ],
        )

    async def onboard_schedule(self, stats: Stats, user: User) -> None:
        day = random.choice(["MONDAY", "WEDNESDAY", "FRIDAY", "SATURDAY"])
        await self._section(
            stats,
            user,
            "/api/v1/onboarding/schedule/communication-methods",
            [
                (
                    "/api/v1/onboarding/schedule/communication-method",
                    {"communicationMethodType": random.choice(["TEXT", "VOICE", "VIDEO"])},
                ),
                ("/api/v1/onboarding/schedule/group-size", {"groupSizeIds": [1, 2]}),
                ("/api/v1/onboarding/schedule/daily-minute", {"dailyMinutesType": "MINUTES_30"}),
                (
                    "/api/v1/onboarding/schedule",
                    {
                        "schedules": [
                            {"dayOfWeek": day, "classTime": f"{random.randint(8, 21):02d}:00"}
                        ]
                    },
                ),
                (
                    "/api/v1/users/complete-onboarding",
                    {"completedAt": datetime.now(UTC).isoformat(), "allStepsCompleted": True},
                ),
            ],
        )

    # -- matching --------------------------------------------------------------------------
    async def search(self, stats: Stats, user: User) -> list[str]:
        body = await self.call(
            stats, user, "GET", "/api/v1/matching/partners", params={"page": 1, "size": 20}
        )
        return [p["userId"] for p in body["data"]]

    async def request(self, stats: Stats, user: User) -> None:
        """Search, then ask someone from the results (the SPA's card button); a virtual
        user not on the first page is asked anyway, as if found on a later one."""
        found = set(await self.search(stats, user))
        candidates = self._candidates(user)
        if not candidates:
            return
        shown = [c for c in candidates if c.id in found]
        other = random.choice(shown or candidates)
        pair = frozenset((user.id, other.id))
        self.population.linked.add(pair)
        body = await self.call(
            stats,
            user,
            "POST",
            "/api/v1/matching/request",
            json={"targetUserId": other.id, "message": "Hi! Practise?"},
        )
        request_id, answered = body["data"]["requestId"], time.perf_counter()
        self.population.pending_requests[other.id].append(request_id)
        if random.random() < self.freshness_share:

            async def notified() -> bool:
                # The matching category only: chat notifications, newer and many, would
                # push the request off the first page of all of them.
                seen = await self.call(
                    stats,
                    other,
                    "GET",
                    "/api/v1/notifications",
                    params={"page": 1, "size": 20, "category": "MATCHING"},
                )
                return any(
                    n["data"].get("requestId") == request_id for n in seen["data"]["notifications"]
                )

            self.spawn(
                self.probe(stats, "match_request -> receiver's notification", answered, notified)
            )

    async def accept(self, stats: Stats, user: User) -> None:
        received = await self.call(
            stats,
            user,
            "GET",
            "/api/v1/matching/requests/received",
            params={"page": 1, "size": 50, "status": "pending"},
        )
        listed = {r.get("requestId") or r.get("id"): r for r in received["data"]}
        request_id = self.population.pending_requests[user.id].pop(0)
        if request_id not in listed:
            raise StepFailed(f"request {request_id} is not in the receiver's pending list")
        sender = listed[request_id].get("senderId") or listed[request_id]["sender"]["userId"]
        await self.call(
            stats,
            user,
            "POST",
            "/api/v1/matching/accept/{id}",
            f"/api/v1/matching/accept/{request_id}",
            json={"responseMessage": ""},
        )
        answered, partner = time.perf_counter(), self.population.by_id[sender]
        user.partners[partner.id] = partner.partners[user.id] = 0

        async def room_opened() -> bool:
            rooms = await self.call(stats, user, "GET", "/api/v1/chat/rooms")
            for room in rooms["data"]:
                if room["roomType"] == "DIRECT" and partner.id in {
                    p["userId"] for p in room["participants"]
                }:
                    user.partners[partner.id] = partner.partners[user.id] = room["roomId"]
                    return True
            return False

        # Always probed: the room is what the two will chat in.
        self.spawn(
            self.probe(stats, "match_accept -> 1:1 chat room (policy)", answered, room_opened)
        )

    # -- chat ------------------------------------------------------------------------------
    async def _socket(self, stats: Stats, user: User) -> ChatSocket:
        if user.socket is not None:
            return user.socket
        started = time.perf_counter()
        url = user.base.replace("http", "ws", 1) + "/ws/chat"
        try:
            ws = await connect(url, max_size=8 * 1024 * 1024, open_timeout=30)
            stomp = StompSocket(ws)
            await stomp.send(
                "CONNECT",
                {
                    "accept-version": "1.2",
                    "heart-beat": "10000,0",
                    "Authorization": f"Bearer {user.token}",
                },
            )
            frames = stomp.frames()
            first = await asyncio.wait_for(anext(frames), 30)
        except (OSError, TimeoutError, StopAsyncIteration) as exc:
            stats.request("STOMP CONNECT", time.perf_counter() - started, "transport")
            raise StepFailed(f"STOMP CONNECT: {type(exc).__name__}") from None
        if first.command != "CONNECTED":
            stats.request("STOMP CONNECT", time.perf_counter() - started, "4xx")
            raise StepFailed(f"STOMP CONNECT answered {first.command}")
        stats.request("STOMP CONNECT", time.perf_counter() - started, "2xx")
        socket = ChatSocket(stomp)

        async def receive() -> None:
            with contextlib.suppress(Exception):
                async for frame in frames:
                    if frame.command == "RECEIPT":
                        waiting = socket.receipts.pop(frame.headers.get("receipt-id", ""), None)
                        if waiting is not None and not waiting.done():
                            waiting.set_result(None)
                    elif frame.command == "MESSAGE":
                        self._delivered(user, frame.body)

        async def beat() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await asyncio.sleep(5)
                    await ws.send("\n")

        socket.tasks = [asyncio.create_task(receive()), asyncio.create_task(beat())]
        user.socket = socket
        return socket

    def _delivered(self, user: User, body: bytes) -> None:
        text = json.loads(body).get("message", "")
        echo = self.echoes.get(f"{user.id}:{text}")
        if echo is not None and not echo[1].done():
            echo[1].set_result(time.perf_counter())
        sent = self.deliveries.pop(f"{user.id}:{text}", None)
        if sent is not None:
            started, stats = sent
            stats.freshness["chat SEND -> partner's socket (live)"].append(
                (time.perf_counter() - started) * 1000
            )

    async def chat(self, stats: Stats, user: User) -> None:
        """Open the room (socket, subscription with a receipt), send a line, and wait for
        the server's MESSAGE back on the sender's own subscription (the SPA shows nothing
        until then); the partner's socket, if open, times the cross-process delivery."""
        partner_id, room_id = random.choice([(p, r) for p, r in user.partners.items() if r])
        socket = await self._socket(stats, user)
        if room_id not in socket.subscribed:
            receipt = f"r{room_id}"
            waiting = asyncio.get_running_loop().create_future()
            socket.receipts[receipt] = waiting
            started = time.perf_counter()
            await socket.stomp.send(
                "SUBSCRIBE",
                {
                    "id": f"room-{room_id}",
                    "receipt": receipt,
                    "destination": f"/sub/chat/room/{room_id}",
                },
            )
            try:
                await asyncio.wait_for(waiting, 30)
            except TimeoutError:
                stats.request("STOMP SUBSCRIBE", time.perf_counter() - started, "transport")
                raise StepFailed("STOMP SUBSCRIBE: no RECEIPT in 30 s") from None
            stats.request("STOMP SUBSCRIBE", time.perf_counter() - started, "2xx")
            socket.subscribed.add(room_id)
            await self.call(
                stats,
                user,
                "GET",
                "/api/v1/chat/rooms/{id}/messages",
                f"/api/v1/chat/rooms/{room_id}/messages",
                params={"page": 0, "size": 50},
            )
        text = f"hello {random.getrandbits(48):x}"
        echoed = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        self.echoes[f"{user.id}:{text}"] = (started, echoed)
        partner = self.population.by_id[partner_id]
        if partner.socket is not None and room_id in partner.socket.subscribed:
            self.deliveries[f"{partner_id}:{text}"] = (started, stats)
        await socket.stomp.send(
            "SEND",
            {"destination": "/pub/chat/message"},
            {
                "roomId": room_id,
                "message": text,
                "imageUrls": [],
                "audioData": None,
                "messageType": "TEXT",
            },
        )
        try:
            arrived = await asyncio.wait_for(echoed, 30)
        except TimeoutError:
            stats.request("STOMP SEND -> own MESSAGE", time.perf_counter() - started, "transport")
            raise StepFailed("STOMP SEND: no MESSAGE back in 30 s") from None
        finally:
            self.echoes.pop(f"{user.id}:{text}", None)
        stats.request("STOMP SEND -> own MESSAGE", arrived - started, "2xx")
        stats.writes_accepted += 1
        if random.random() < self.freshness_share:

            async def in_history() -> bool:
                page = await self.call(
                    stats,
                    user,
                    "GET",
                    "/api/v1/chat/rooms/{id}/messages",
                    f"/api/v1/chat/rooms/{room_id}/messages",
                    params={"page": 0, "size": 50},
                )
                return any(m["message"] == text for m in page["data"])

            self.spawn(self.probe(stats, "chat MESSAGE -> room history", arrived, in_history))

    async def browse(self, stats: Stats, user: User) -> None:
        """The main page and the badges: rooms, notifications, unread count, sessions."""
        await self.call(stats, user, "GET", "/api/v1/chat/rooms")
        await self.call(stats, user, "GET", "/api/v1/notifications", params={"page": 1, "size": 20})
        await self.call(stats, user, "GET", "/api/v1/notifications/unread-count")
        await self.call(
            stats, user, "GET", "/api/v1/matching/matches", params={"page": 1, "size": 4}
        )

    # -- sessions --------------------------------------------------------------------------
    async def propose_session(self, stats: Stats, user: User) -> None:
        partner_id = random.choice([p for p, r in user.partners.items() if r])
        body = await self.call(
            stats,
            user,
            "POST",
            "/api/v1/sessions",
            json={
                "partnerId": partner_id,
                "scheduledAt": self.population.next_slot().isoformat(),
                "durationMinutes": 30,
                "language": user.target,
                "type": "VIDEO",
                "title": "Practice",
            },
        )
        self.population.pending_sessions[partner_id].append(body["data"]["sessionId"])

    async def accept_session(self, stats: Stats, user: User) -> None:
        mine = await self.call(
            stats, user, "GET", "/api/v1/sessions/my-sessions", params={"page": 0, "size": 50}
        )
        session_id = self.population.pending_sessions[user.id].pop(0)
        waiting = {s["sessionId"] for s in mine["data"] if s["awaitingMyAnswer"]}
        if session_id not in waiting:
            raise StepFailed(f"session {session_id} is not awaiting the guest's answer")
        await self.call(
            stats,
            user,
            "POST",
            "/api/v1/sessions/{id}/accept",
            f"/api/v1/sessions/{session_id}/accept",
        )

    # -- level test (rare: transcription and scoring take seconds of CPU) ------------------
    async def level_test(self, stats: Stats, user: User) -> None:
        assert self.recording is not None
        user.tested = True
        self.population.level_tests += 1
        started = await self.call(
            stats,
            user,
            "POST",
            "/api/v1/level-test/voice/start",
            json={"languageCode": "English", "currentLevel": "Intermediate"},
        )
        test_id = started["data"]["testId"]
        await self.call(
            stats,
            user,
            "POST",
            "/api/v1/level-test/voice/{id}/upload",
            f"/api/v1/level-test/voice/{test_id}/upload",
            files={"audio": ("recording.wav", self.recording, "audio/wav")},
        )
        uploaded = time.perf_counter()
        await self.call(
            stats,
            user,
            "POST",
            "/api/v1/level-test/voice/{id}/analyze",
            f"/api/v1/level-test/voice/{test_id}/analyze",
            ok=(200, 202),
        )

        async def assessed() -> bool:
            got = await self.call(
                stats,
                user,
                "GET",
                "/api/v1/level-test/voice/{id}/result",
                f"/api/v1/level-test/voice/{test_id}/result",
                ok=(200, 404),
            )
            return bool(got and got.get("success") and got["data"].get("level"))

        self.spawn(
            self.probe(stats, "level test upload -> result", uploaded, assessed, LEVEL_TEST_WAIT)
        )


# -- the run -----------------------------------------------------------------------------
@dataclass
class Options:
    rates: list[float]
    step_seconds: float = 30.0
    users: int = 100
    warmup_users: int = 50
    new_user_share: float = 0.05
    register_share: float = 0.2
    freshness_share: float = 0.25
    level_test_share: float = 0.0
    max_level_tests: int = 2
    p99_limit_ms: float = 1000.0
    drain_seconds: float = 15.0
    max_seconds: float = 600.0
    keep_going: bool = False


class EventLog:
    """Events appended, counted in the store itself: what the server accepted, policies'
    and workers' follow-up commands included."""

    def __init__(self, database_url: str | None) -> None:
        self.url = database_url.replace("+psycopg", "") if database_url else None

    def position(self) -> int | None:
        if self.url is None:
            return None
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}")
            return int(row.fetchone()[0])  # type: ignore[index]

    def between(self, after: int | None, upto: int | None) -> dict[str, int] | None:
        """Events in (after, upto] per context (``chat.MessagePosted`` -> ``chat``)."""
        if self.url is None or after is None or upto is None:
            return None
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT split_part(topic, '.', 1), count(*) FROM {EVENTS_TABLE} "
                "WHERE notification_id > %s AND notification_id <= %s GROUP BY 1",
                (after, upto),
            ).fetchall()
        return {str(context): int(count) for context, count in rows}


def _pick(population: Population, new_user_share: float) -> User | None:
    """An idle user for the next arrival: now and then a newcomer, else someone signed in."""
    idle = [u for u in population.users if u.stage > 0 and not u.busy]
    fresh = [u for u in population.users if u.stage == 0 and not u.busy]
    if fresh and (not idle or random.random() < new_user_share):
        return fresh[0]
    return random.choice(idle) if idle else None


def _form(files: dict[str, tuple[str, bytes, str]]) -> aiohttp.FormData:
    """``files`` as an httpx client takes them (field -> file name, content, type), as a multipart
    form, the way the SPA uploads a recording."""
    form = aiohttp.FormData()
    for field_name, (file_name, content, content_type) in files.items():
        form.add_field(field_name, content, filename=file_name, content_type=content_type)
    return form


def _error_code(content: bytes) -> str | None:
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return str(body.get("code")) if isinstance(body, dict) else None


async def _action(scenario: Scenario, stats: Stats, user: User, kind: str) -> None:
    try:
        await scenario.act(stats, user, kind)
        stats.actions[kind]["ok"] += 1
    except ShedByServer:  # what the action did before it is stored; the rest was refused
        stats.actions[kind]["shed"] += 1
    except StepFailed as failed:
        stats.actions[kind]["failed"] += 1
        stats.fail(f"{kind}: {failed}")
    except Exception as exc:  # a scenario bug or a malformed answer: counted, not fatal
        stats.actions[kind]["failed"] += 1
        stats.fail(f"{kind}: {type(exc).__name__}: {exc}")
    finally:
        user.busy = False


async def _warm_up(scenario: Scenario, users: list[User], concurrency: int = 6) -> Stats:
    """Sign in and onboard the first users (not measured), so the steps start from a
    population that searches, matches and chats, with newcomers arriving among them."""
    stats, gate = Stats(), asyncio.Semaphore(concurrency)

    async def one(user: User) -> None:
        async with gate:
            while user.stage < ONBOARDED:
                before = user.stage
                user.busy = True
                await _action(scenario, stats, user, scenario.choose(user))
                if user.stage == before:
                    return

    await asyncio.gather(*(one(u) for u in users))
    return stats


async def _step(
    scenario: Scenario,
    population: Population,
    options: Options,
    *,
    rate: float,
    seconds: float,
    events: EventLog,
    groups: ProcessGroups | None,
) -> tuple[Stats, dict[str, Any]]:
    """Arrivals at ``rate`` per second for ``seconds`` (open loop), then at most
    ``drain_seconds`` for the actions still running; the step's event and CPU windows."""
    stats, inflight = Stats(), set[asyncio.Task[None]]()
    before = await asyncio.to_thread(events.position)
    scraped_before = await _scrape(scenario.clients)
    first = groups.sample() if groups else None
    lag: list[float] = []
    lag_probe = asyncio.create_task(_loop_lag(lag))
    started = time.perf_counter()
    while (due := started + stats.arrivals / rate) - started < seconds:
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        stats.arrivals += 1
        user = _pick(population, options.new_user_share)
        if user is None:
            stats.shed += 1
            continue
        user.busy = True
        task = asyncio.create_task(_action(scenario, stats, user, scenario.choose(user)))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    arrivals_seconds = time.perf_counter() - started
    if inflight:
        _, pending = await asyncio.wait(set(inflight), timeout=options.drain_seconds)
        stats.unfinished = len(pending)
        for task in pending:
            task.cancel()
    probes = set(scenario.background)
    if probes:
        await asyncio.wait(probes, timeout=options.drain_seconds)
    window = time.perf_counter() - started
    lag_probe.cancel()
    after = await asyncio.to_thread(events.position)
    appended = await asyncio.to_thread(events.between, before, after)
    scraped = await _scrape(scenario.clients)
    last = groups.sample() if groups else None
    cores = os.cpu_count() or 1
    return stats, {
        "target_rate": rate,
        "arrival_seconds": round(arrivals_seconds, 1),
        "window_seconds": round(window, 1),
        "achieved_rate": round(stats.arrivals / arrivals_seconds, 2),
        "events_appended": sum(appended.values()) if appended is not None else None,
        "events_per_s": round(sum(appended.values()) / window, 1) if appended else None,
        "events_by_context": appended,
        "resources": usage(first, last, cores) if first and last else None,
        "loadavg_after": os.getloadavg(),
        "generator_loop_lag_ms": _quantiles(lag),
        "server_sheds_by_reason": dict(sorted((scraped.sheds - scraped_before.sheds).items())),
        "read_your_writes_wait_ms": scraped.waits_since(scraped_before),
    }


async def _scrape(clients: dict[str, aiohttp.ClientSession]) -> Scrape:
    """Every API's ``/metrics``, summed."""
    scrape = Scrape()
    for client in clients.values():
        async with client.get("/metrics") as response:
            scrape.add(await response.text())
    return scrape


async def _loop_lag(samples: list[float]) -> None:
    """How late the generator's own event loop runs a timer due every 50 ms, in ms.
    Latencies are read on this loop, so a late loop adds to every one of them: beside the
    servers' own figures, it tells how much of a latency is the generator's."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + 0.05
        await asyncio.sleep(0.05)
        samples.append(round((loop.time() - due) * 1000, 1))


def _summary(stats: Stats, step: dict[str, Any], options: Options) -> dict[str, Any]:
    """The step's numbers, and whether it stayed within the limits that define the knee."""
    everything = [
        v for name, values in stats.latencies.items() if name not in LONG_POLLS for v in values
    ]
    endpoints = {
        name: {"count": sum(stats.statuses[name].values()), **dict(stats.statuses[name]),
               **(_quantiles(stats.latencies[name]) if stats.latencies.get(name) else {})}
        for name in sorted(stats.statuses)
    }  # fmt: skip
    seconds = step["arrival_seconds"]
    overall = _quantiles(everything)
    why_not = []
    if stats.errors():
        why_not.append(f"{stats.errors()} errors")
    if stats.shed:
        why_not.append(f"{stats.shed} arrivals shed (no idle user)")
    if shed_by_server := stats.shed_by_server():
        why_not.append(f"{shed_by_server} requests shed by the server (503 OVERLOADED)")
    if step["achieved_rate"] < 0.95 * step["target_rate"]:
        why_not.append("the generator fell behind its schedule")
    if overall["p99"] > options.p99_limit_ms:
        why_not.append(f"p99 {overall['p99']} ms > {options.p99_limit_ms} ms")
    return {
        **step,
        "arrivals": stats.arrivals,
        "shed": stats.shed,
        "shed_by_server": {
            "requests": stats.shed_by_server(),
            "per_s": round(stats.shed_by_server() / seconds, 1),
            "latency_ms": _quantiles(stats.shed_latencies),
        },
        "actions": {kind: dict(counts) for kind, counts in sorted(stats.actions.items())},
        "requests": len(everything),
        "requests_per_s": round(len(everything) / seconds, 1),
        "writes_accepted": stats.writes_accepted,
        "writes_accepted_per_s": round(stats.writes_accepted / seconds, 1),
        "latency_ms": overall,
        "errors": stats.errors(),
        "unfinished": stats.unfinished,
        "probe_failures": stats.probe_failures,
        "failures": stats.failures,
        "freshness_ms": {
            name: {"count": len(values), **_quantiles(values)}
            for name, values in sorted(stats.freshness.items())
        },
        "endpoints": endpoints,
        "within_limits": not why_not,
        "why_not": why_not,
    }


SINGLE_CORE = ("api", "relay", "projector", "policies", "worker", "loadgen", "redis")
"""Groups that cannot use more than one core: Python roles (the GIL) and Redis."""


def first_saturated(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The first step where a single-core process ran at >= 85 % of its core or the machine
    at >= 90 % of all cores, and what that was. ``untracked_cpu_pct`` is the CPU that other
    work on the machine took meanwhile (100 = one core), which the topology had to share."""
    for step in steps:
        resources = step["resources"]
        if resources is None:
            continue
        groups = resources["groups"]
        hot = [
            (name, g["cpu_pct"])
            for name, g in groups.items()
            if name.startswith(SINGLE_CORE) and g["cpu_pct"] >= 85
        ]
        if hot:
            name, pct = max(hot, key=lambda h: h[1])
            resource = f"CPU of {name}: {pct}% of one core (single-threaded)"
        elif resources["machine_cpu_pct"] >= 90:
            resource = f"machine CPU: {resources['machine_cpu_pct']}% of {os.cpu_count()} cores"
        else:
            continue
        return {
            "target_rate": step["target_rate"],
            "resource": resource,
            "machine_cpu_pct": resources["machine_cpu_pct"],
            "tracked_cpu_pct": resources["tracked_cpu_pct"],
            "untracked_cpu_pct": resources["untracked_cpu_pct"],
            "top_cpu_pct": {name: g["cpu_pct"] for name, g in list(groups.items())[:6]},
        }
    return {"resource": None, "note": "nothing reached 85 % of a core or 90 % of the machine"}


async def drive(
    bases: list[str],
    options: Options,
    *,
    database_url: str | None = None,
    database_name: str | None = None,
    pids: dict[str, int] | None = None,
    recording: bytes | None = None,
    settle_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Warm up, run the steps, and return the report (without the machine section)."""
    run = os.urandom(3).hex()
    users = [
        User(
            i,
            bases[i % len(bases)],
            f"load{i}-{run}@bench.example",
            native=1 + i % 2,
            target=2 - i % 2,
        )
        for i in range(options.users)
    ]
    population = Population(users)
    # aiohttp rather than httpx: past the knee, httpx's connection pool made the generator
    # the slowest part of the system (a catalog read that curl got in 15 ms at p50 took
    # 1.1 s through it, on the same server at the same moment).
    clients = {
        b: aiohttp.ClientSession(base_url=b, timeout=aiohttp.ClientTimeout(total=30),
                                 connector=aiohttp.TCPConnector(limit=200))
        for b in bases
    }  # fmt: skip
    scenario = Scenario(
        clients,
        population,
        freshness_share=options.freshness_share,
        level_test_share=options.level_test_share,
        max_level_tests=options.max_level_tests,
        recording=recording,
        register_share=options.register_share,
    )
    roots = (pids or {}) | {"loadgen": os.getpid()}
    groups = ProcessGroups(roots, database_name) if pids is not None else None
    events = EventLog(database_url)
    deadline = time.monotonic() + options.max_seconds
    steps: list[tuple[Stats, dict[str, Any]]] = []
    try:
        warm_started = time.monotonic()
        warm = await _warm_up(scenario, users[: options.warmup_users])
        settled = await asyncio.to_thread(settle, settle_env) if settle_env else None
        warm_seconds = round(time.monotonic() - warm_started, 1)
        for rate in options.rates:
            left = deadline - time.monotonic() - options.drain_seconds
            if left < min(options.step_seconds, 5):
                break
            seconds = min(options.step_seconds, left)
            stats, step = await _step(
                scenario,
                population,
                options,
                rate=rate,
                seconds=seconds,
                events=events,
                groups=groups,
            )
            steps.append((stats, step))
            if not _summary(stats, step, options)["within_limits"] and not options.keep_going:
                break
        if scenario.background:  # late probes still record into their step; a level test's
            # transcription and scoring may take minutes on a busy machine
            wait = LEVEL_TEST_WAIT if population.level_tests else options.drain_seconds
            await asyncio.wait(set(scenario.background), timeout=wait)
    finally:
        for task in scenario.background:
            task.cancel()
        for user in users:
            if user.socket is not None:
                for task in user.socket.tasks:
                    task.cancel()
                with contextlib.suppress(Exception):
                    await user.socket.stomp.ws.close()
        for client in clients.values():
            await client.close()
    summaries = [_summary(stats, step, options) for stats, step in steps]
    knee: dict[str, Any] | None = None
    for summary in summaries:
        if not summary["within_limits"]:
            break
        knee = summary
    return {
        "options": options.__dict__,
        "bases": bases,
        "warm_up": {
            "users": options.warmup_users,
            "seconds": warm_seconds,
            "settle_seconds": settled,
            "actions": {kind: dict(counts) for kind, counts in sorted(warm.actions.items())},
            "errors": warm.errors(),
            "failures": warm.failures,
        },
        "steps": summaries,
        "knee": _knee(knee),
        "at_twice_the_knee": at_twice_the_knee(summaries, knee),
        "first_saturated": first_saturated(summaries),
    }


def _knee(step: dict[str, Any] | None) -> dict[str, Any] | None:
    """The knee's headline numbers: sustained throughput and the latency it costs."""
    if step is None:
        return None
    return {
        "target_rate": step["target_rate"],
        "actions_per_s": step["achieved_rate"],
        "requests_per_s": step["requests_per_s"],
        "commands_accepted_per_s": step["writes_accepted_per_s"],
        "events_appended_per_s": step["events_per_s"],
        "p99_ms": step["latency_ms"]["p99"],
        "p95_ms": step["latency_ms"]["p95"],
    }


def at_twice_the_knee(
    steps: list[dict[str, Any]], knee: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The first step at twice the knee's rate or more (``--keep-going`` runs it), and
    whether the server held there by shedding: served requests' p99 under a second,
    the excess refused (``shed_by_server``) rather than queued or failed."""
    if knee is None:
        return None
    step = next((s for s in steps if s["target_rate"] >= 2 * knee["target_rate"]), None)
    if step is None:
        return None
    return {
        "target_rate": step["target_rate"],
        "p99_ms": step["latency_ms"]["p99"],
        "p99_under_1s": step["latency_ms"]["p99"] < 1000,
        "shed_by_server": step["shed_by_server"]["requests"],
        "errors": step["errors"],
    }


def _recording(workdir: Path) -> bytes:
    """A short spoken answer (about 12 s) from espeak-ng, as a browser would upload it."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("--level-tests needs espeak-ng (apt-get install espeak-ng)")
    wav = workdir / "answer.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), SPOKEN_ANSWER], check=True
    )
    return wav.read_bytes()


def _machine() -> dict[str, Any]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "mem_available_mib": int(meminfo["MemAvailable"].split()[0]) // 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", default="2,4,6,8,12,16", help="user actions per second, one step each"
    )
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--warmup-users", type=int, default=50)
    parser.add_argument("--new-user-share", type=float, default=0.05)
    parser.add_argument(
        "--register-share",
        type=float,
        default=0.2,
        help="newcomers who register with a password instead of dev-login",
    )
    parser.add_argument("--freshness-share", type=float, default=0.25)
    parser.add_argument(
        "--level-tests",
        action="store_true",
        help="let a few users take the voice level test (Whisper: CPU heavy)",
    )
    parser.add_argument("--level-test-share", type=float, default=0.01)
    parser.add_argument("--max-level-tests", type=int, default=2)
    parser.add_argument("--p99-limit-ms", type=float, default=1000.0)
    parser.add_argument("--drain-seconds", type=float, default=15.0)
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="bound on warm-up plus steps"
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run every step even after one past the knee"
    )
    parser.add_argument("--base-url", help="comma-separated API URLs of a running topology")
    parser.add_argument("--database-url", help="its event store, to count events appended")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--postgres",
        choices=["throwaway", "local"],
        default="throwaway",
        help="a private cluster (fsync off, 200 connections), or the machine's server",
    )
    parser.add_argument("--workdir", type=Path, help="keep the roles' logs here")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=4,
        help="LANGUAGEMATE_DB_POOL_SIZE of every role (a role holds at most five times it)",
    )
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a LANGUAGEMATE_NAME setting for every role (repeatable)")  # fmt: skip
    args = parser.parse_args()
    random.seed(args.seed)
    options = Options(
        rates=[float(r) for r in args.rates.split(",")],
        step_seconds=args.step_seconds,
        users=args.users,
        warmup_users=min(args.warmup_users, args.users),
        new_user_share=args.new_user_share,
        register_share=args.register_share,
        freshness_share=args.freshness_share,
        level_test_share=args.level_test_share if args.level_tests else 0.0,
        max_level_tests=args.max_level_tests,
        p99_limit_ms=args.p99_limit_ms,
        drain_seconds=args.drain_seconds,
        max_seconds=args.max_seconds,
        keep_going=args.keep_going,
    )
    report: dict[str, Any] = {
        "benchmark": "loadgen",
        "started_at": datetime.now(UTC).isoformat(),
        "machine_at_start": _machine(),
        "note": "generator and servers share this machine's cores; loopback only",
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        recording = _recording(workdir) if args.level_tests else None
        if args.base_url:
            report["topology"] = "given (--base-url)"
            report |= uvloop.run(
                drive(
                    args.base_url.split(","),
                    options,
                    database_url=args.database_url,
                    recording=recording,
                )
            )
        else:
            roles = (*BACKGROUND_ROLES, ("worker",))
            models = Path(tempfile.gettempdir()) / "languagemate-bench-models"
            extra = {
                "LANGUAGEMATE_MODEL_CACHE_DIR": str(models),
                "LANGUAGEMATE_DB_POOL_SIZE": str(args.pool_size),
                **dict(f"LANGUAGEMATE_{item}".split("=", 1) for item in args.env),
            }
            with topology(
                workdir, label="load", roles=roles, extra_env=extra, postgres=args.postgres
            ) as running:
                report["topology"] = {
                    "apis": len(running.bases),
                    "roles": [" ".join(r) for r in roles],
                    "database": running.database_name,
                    "postgres": args.postgres,
                    "db_pool_size": args.pool_size,
                    "settings": args.env,
                }
                report |= uvloop.run(
                    drive(
                        running.bases,
                        options,
                        database_url=running.database_url,
                        database_name=running.database_name,
                        pids=running.pids(),
                        recording=recording,
                        settle_env=running.env,
                    )
                )
    report["machine_at_end"] = _machine()
    write_report("loadgen", report)


if __name__ == "__main__":
    main()
