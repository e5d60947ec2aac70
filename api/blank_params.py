"""An empty query parameter (``name=``) means the parameter was not given, on every route.

The SPA keeps unset filters as empty strings and axios sends them
(``/matching/partners?minAge=&maxAge=``): read literally, ``minAge=""`` is not an integer
and the whole request is refused, so every user's partner search failed. A browser form
behaves the same way. One rule for the whole API, applied before routing, keeps every
route (and every future one) consistent: a pair without a value is dropped from the query
string, so validation, defaults and ``Query(...)`` declarations see exactly what they would
see had the client left it out. The OpenAPI document says so on every optional query
parameter (``api/openapi.py``).

Plain ASGI, on the raw bytes: re-encoding the rest of the query would risk changing what
the other values decode to.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

BLANK_MEANS_ABSENT = "An empty value (`name=`) is the same as leaving the parameter out."


def without_blanks(query: bytes) -> bytes:
    """``query`` without its ``name=`` and bare ``name`` pairs (and empty ``&&`` runs)."""
    if not query:
        return query
    return b"&".join(pair for pair in query.split(b"&") if pair.partition(b"=")[2])


class BlankQueryParams:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            query = scope.get("query_string", b"")
            stripped = without_blanks(query)
            if stripped != query:
                scope = {**scope, "query_string": stripped}
        await self.app(scope, receive, send)
