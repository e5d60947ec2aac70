"""uvicorn's HTTP and WebSocket protocols with the limits uvicorn itself lacks (issue 23).

Against ``languagemate serve`` a client could hold memory or connections without limit:

* **Headers.** httptools, uvicorn's fast parser, has no size limit: one request whose
  header kept growing (200 MB sent) left the process 260 MB larger. :class:`GuardedHttp`
  counts a request's head as it arrives and refuses one still unfinished past
  ``http_header_max_bytes`` (400, closed). It counts the request line and each finished
  header, and every read that falls wholly inside an unfinished head, so a head is cut off
  at most one read (asyncio reads 256 kB) past the limit. h11 has the limit built in but
  parses in Python: it halved what a request that does nothing costs to serve (issue 19).
* **Slow headers.** uvicorn arms no timer until a first response, and its keep-alive timer
  is reset by any byte, so a client sending a byte every few seconds held a connection
  forever. :class:`GuardedHttp` gives every request ``http_header_timeout_seconds`` to
  finish its headers, counted from connecting or from the end of the previous response.
* **Readers that stop reading.** Closing a connection waits for what was written to be
  delivered; with a peer that never reads that is never, and the kernel keeps probing the
  closed window. ``TCP_USER_TIMEOUT`` on every connection makes the kernel drop one whose
  data stays unacknowledged for ``tcp_user_timeout_seconds``.
* **WebSocket messages.** uvicorn's ``ws_max_size`` is one limit for every socket; it is set
  to ``ws_max_message_bytes`` (64 KiB, what notifications and signalling need), so larger
  frames are refused at their header (close 1009) before a byte of them is buffered.
  :class:`GuardedWebSockets` lets the application raise one socket's limit once it knows who
  is on it (the chat socket after CONNECT, for voice messages): the scope extension
  :data:`MESSAGE_LIMIT_EXTENSION` holds ``{"raise_to": callable}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from infra.settings import Settings

MESSAGE_LIMIT_EXTENSION = "languagemate.websocket.max_message_bytes"


def drop_unacknowledged(transport: asyncio.BaseTransport, seconds: int) -> None:
    """``TCP_USER_TIMEOUT`` (Linux): the kernel ends the connection once sent data has gone
    unacknowledged, or the peer's window has stayed closed, for ``seconds``."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    sock = transport.get_extra_info("socket")
    if option is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, option, seconds * 1000)


class GuardedHttp(HttpToolsProtocol):
    """httptools with a size limit and a deadline for each request's head, and
    ``TCP_USER_TIMEOUT``."""

    header_timeout: ClassVar[float] = 10.0
    header_max_bytes: ClassVar[int] = 32 * 1024
    user_timeout_seconds: ClassVar[int] = 30

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_began = False
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        drop_unacknowledged(transport, self.user_timeout_seconds)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        self._head_began = False
        super().data_received(data)
        if self._in_head and not self._head_began:
            self._head_bytes += len(data)  # the whole read lies inside one unfinished head
        if self._head_bytes > self.header_max_bytes and not self.transport.is_closing():
            self._in_head = False
            self.send_400_response("Request headers too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_began, self._head_bytes = True, True, 0

    # The head's first read is counted by what it holds; later reads are counted whole (an
    # item that began in an earlier read is not counted twice when it ends).
    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if self._head_began:
            self._head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if self._head_began:
            self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._stop_waiting()  # a request's head is in (or the socket becomes a WebSocket)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            self._await_head()  # no pipelined request started: the next one has to hurry

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class GuardedWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, each socket's message limit adjustable by the app."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = cast(dict[str, Any] | None, getattr(self, "scope", None))
        if scope is not None:  # a refused handshake has no scope
            scope["extensions"][MESSAGE_LIMIT_EXTENSION] = {"raise_to": self._raise_limit}

    def _raise_limit(self, size: int) -> None:
        self.conn.max_message_size = max(size, self.conn.max_message_size or 0)


def protocols(settings: Settings) -> tuple[type[GuardedHttp], type[GuardedWebSockets]]:
    """The two protocol classes for ``uvicorn.run(http=..., ws=...)``, with the limits of
    these settings (uvicorn builds one instance per connection with its own arguments)."""
    http = type(
        "GuardedHttp",
        (GuardedHttp,),
        {
            "header_timeout": settings.http_header_timeout_seconds,
            "header_max_bytes": settings.http_header_max_bytes,
            "user_timeout_seconds": settings.tcp_user_timeout_seconds,
        },
    )
    return cast(type[GuardedHttp], http), GuardedWebSockets


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that bound what one client may hold."""
    http, ws = protocols(settings)
    return {
        "http": http,
        "ws": ws,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_seconds,
        "ws_ping_timeout": settings.ws_ping_seconds,
    }
