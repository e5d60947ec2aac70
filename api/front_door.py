"""``GET /``: what a newcomer who opens the server's address needs to know.

The version, the mode (embedded or distributed), whether the dependencies answer, and where
to go next: the API documentation, the admin dashboard, the AsyncAPI document. A browser
(``Accept: text/html``) gets a small page; anything else gets the same facts as JSON in
the usual envelope.

Public, like ``/health``, and just as cheap: it reuses the health report that
``api.health_checks.run_checks`` keeps, probing the dependencies only when that report is older
than :data:`HEALTH_MAX_AGE_SECONDS`, so a crowd of visitors cannot turn into a crowd of
probes. It shows only UP/DOWN per dependency, never error details.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import RuntimeDep
from api.envelope import ok
from api.health_checks import run_checks
from api.version import package_version
from api.views.pages import html_page

router = APIRouter()
HEALTH_MAX_AGE_SECONDS = 30.0
LINKS = {
    "docs": ("/docs", "API documentation (OpenAPI UI)"),
    "openapi": ("/openapi.json", "OpenAPI document of the HTTP routes"),
    "asyncapi": ("/asyncapi.json", "AsyncAPI document: the Kafka event topic and the sockets"),
    "dashboard": ("/admin/dashboard", "Admin dashboard (admins sign in with a token)"),
    "health": ("/api/v1/health", "Health of each dependency"),
}


def _facts(rt: Any) -> dict[str, Any]:
    report = run_checks(rt, max_age=HEALTH_MAX_AGE_SECONDS)
    return {
        "name": "LanguageMate backend",
        "version": package_version(),
        "mode": report["mode"],
        "health": {
            "status": report["status"],
            "checks": {name: check["status"] for name, check in report["checks"].items()},
        },
        "links": {name: path for name, (path, _) in LINKS.items()},
    }


def wants_html(request: Request) -> bool:
    """A browser: it asks for ``text/html`` and not for JSON."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _html(facts: dict[str, Any]) -> str:
    health = facts["health"]
    checks = "".join(
        f"<li>{escape(name)}: <b>{escape(status)}</b></li>"
        for name, status in health["checks"].items()
    )
    links = "".join(
        f"<li><a href='{escape(path)}'>{escape(path)}</a> {escape(text)}</li>"
        for path, text in LINKS.values()
    )
    body = (
        f"<header><h1>{escape(facts['name'])}</h1>"
        f"<span>version {escape(facts['version'])} · {escape(facts['mode'])} mode</span></header>"
        f"<main><section class='card'><h2>Health: {escape(health['status'])}</h2>"
        f"<ul>{checks}</ul></section>"
        f"<section class='card'><h2>Where to go</h2><ul>{links}</ul></section></main>"
    )
    return html_page(facts["name"], body)


@router.get("/", include_in_schema=False)
def front_door(request: Request, rt: RuntimeDep) -> Response:
    """Public by design: the same facts as /health plus the version and links."""
    facts = _facts(rt)
    headers = {"Vary": "Accept"}
    if wants_html(request):
        return HTMLResponse(_html(facts), headers=headers)
    return JSONResponse(ok(facts), headers=headers)
