"""``GET /asyncapi.json``: the AsyncAPI 3.0 document of everything that is not
request/response (what ``/openapi.json`` is for the HTTP routes).

It describes the Kafka topic the relay publishes the history to (``api/asyncapi_events.py``,
generated from the event catalogue, so a new event type appears in it by itself) and the
two STOMP sockets (``api/asyncapi_sockets.py``). Client generators, AsyncAPI Studio and
schema registries read it; a test validates it against the official AsyncAPI 3.0 JSON
Schema and real records and frames against its messages.

It is public like ``/openapi.json``: it names no user and no secret, only shapes. Built
once per host (it does not change while the process runs).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from cachetools import LRUCache
from fastapi import APIRouter, Request, Response

from api.asyncapi_events import kafka_part
from api.asyncapi_sockets import socket_part
from api.deps import RuntimeDep
from api.version import package_version
from infra.settings import Settings

router = APIRouter()
_lock = threading.Lock()
ASYNCAPI_VERSION = "3.0.0"
SECTIONS = ("servers", "channels", "operations")


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {section: {} for section in SECTIONS}
    merged["components"] = {}
    for part in parts:
        for section in SECTIONS:
            merged[section].update(part[section])
        for kind, entries in part["components"].items():
            merged["components"].setdefault(kind, {}).update(entries)
    return merged


def document(settings: Settings, *, host: str, secure: bool = False) -> dict[str, Any]:
    """The AsyncAPI document, with the sockets served at ``host`` (``name:port``)."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "LanguageMate events and sockets",
            "version": package_version(),
            "description": "The event history on Kafka (one message per event type, as the "
            "relay publishes it) and the chat and notification STOMP sockets. HTTP routes: "
            "/openapi.json.",
        },
        "defaultContentType": "application/json",
        **_merge(kafka_part(settings), socket_part(host, secure)),
    }


@router.get("/asyncapi.json", include_in_schema=False)
def asyncapi(request: Request, rt: RuntimeDep) -> Response:
    """Public, like /openapi.json (shapes only). The sockets' host is the one the client
    asked for; the rendered document is kept per host (a few: the Host header is the
    client's to choose)."""
    secure = request.url.scheme in ("https", "wss")
    key = (request.url.netloc, secure)
    with _lock:
        documents = getattr(request.app.state, "asyncapi_documents", None)
        if documents is None:
            documents = request.app.state.asyncapi_documents = LRUCache(maxsize=8)
        rendered = documents.get(key)
    if rendered is None:
        rendered = orjson.dumps(document(rt.settings, host=request.url.netloc, secure=secure))
        with _lock:
            documents[key] = rendered
    return Response(rendered, media_type="application/json")
