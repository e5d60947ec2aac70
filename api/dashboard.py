"""``/admin/dashboard``: the built-in operations page, rendered on the server with Plotly.

It shows the platform metrics (``projections/platform_metrics.py``) and the system's health
(``api/system_snapshot.py``) as charts; plotly.js is served from the installed ``plotly``
package, so the page needs nothing from the internet. Admins only: a browser signs in at
``/admin/login`` with an access token (kept in an HttpOnly, SameSite=Strict cookie scoped
to ``/admin``); scripts may send the usual ``Authorization: Bearer`` header instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Annotated, Any

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.deps import ReadModelsDep, RuntimeDep, TokensDep
from api.services import Services
from api.system_snapshot import snapshot
from api.views.pages import html_page
from domain import reference
from domain.level_tests import CEFR_LEVELS
from infra.tokens import InvalidToken
from projections.identity import is_admin
from projections.platform_metrics import metrics

router = APIRouter(prefix="/admin", include_in_schema=False)
COOKIE = "lm_admin"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6"]


class NotAdmin(Exception):
    pass


def _admin(request: Request, rt: Services) -> str:
    """The admin's user id from the bearer header or the cookie, else ``NotAdmin``."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
    try:
        claims = rt.tokens.verify(token, "access")
    except InvalidToken:
        raise NotAdmin from None
    if rt.revocations.is_revoked(claims.user_id, claims.session_id):
        raise NotAdmin
    if not is_admin(rt.read_models, claims.user_id):
        raise NotAdmin
    return claims.user_id


@router.get("/login")
def login_form() -> HTMLResponse:
    return HTMLResponse(html_page("Admin sign-in", (
        "<form method='post' action='/admin/login'><h2>LanguageMate admin</h2>"
        "<p>Paste an access token of an account with the admin role.</p>"
        "<input name='token' type='password' autocomplete='off' required>"
        "<button type='submit'>Sign in</button></form>")))  # fmt: skip


@router.post("/login")
def login(
    request: Request,
    tokens: TokensDep,
    read_models: ReadModelsDep,
    token: Annotated[str, Form(max_length=4096)],
) -> Response:
    try:
        claims = tokens.verify(token, "access")
    except InvalidToken:
        return HTMLResponse(html_page("Admin sign-in", "<form><p>That token is not valid.</p>"
                                  "<a href='/admin/login'>Try again</a></form>"), 401)  # fmt: skip
    if not is_admin(read_models, claims.user_id):
        return HTMLResponse(html_page("Admin sign-in", "<form><p>This account is not an admin."
                                  "</p></form>"), 403)  # fmt: skip
    response = RedirectResponse("/admin/dashboard", status_code=303)
    max_age = max(int(claims.expires_at - datetime.now(UTC).timestamp()), 0)
    response.set_cookie(COOKIE, token, max_age=max_age, path="/admin", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip
    return response


@router.get("/assets/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip


def _chart(fig: go.Figure, height: int = 320) -> str:
    fig.update_layout(height=height, margin={"l": 48, "r": 16, "t": 16, "b": 40},
                      paper_bgcolor="#fff", plot_bgcolor="#fff", colorway=PALETTE,
                      legend={"orientation": "h", "y": -0.2}, font={"size": 12})  # fmt: skip
    fig.update_xaxes(gridcolor="#eef0f4", automargin=True)
    fig.update_yaxes(gridcolor="#eef0f4", rangemode="tozero")
    html: str = fig.to_html(full_html=False, include_plotlyjs=False,
                            config={"displayModeBar": False, "responsive": True})  # fmt: skip
    return html


def _card(title: str, fig: go.Figure, height: int = 320) -> str:
    return f"<section class='card'><h2>{escape(title)}</h2>{_chart(fig, height)}</section>"


def _language(language_id: int) -> str:
    language = reference.entry("languages", language_id)
    return language.label.en if isinstance(language, reference.Language) else str(language_id)


def _metric_cards(data: dict[str, Any]) -> list[str]:
    series = data["series"]
    days = [s["period"] for s in series]

    def line(*names: str) -> go.Figure:
        fig = go.Figure()
        for name in names:
            fig.add_trace(go.Scatter(x=days, y=[s[name] for s in series], name=name,
                                     mode="lines+markers"))  # fmt: skip
        fig.update_xaxes(type="date", tickformat="%b %d")
        return fig

    def bars(*names: str) -> go.Figure:
        fig = go.Figure([go.Bar(x=days, y=[s[n] for s in series], name=n) for n in names])
        fig.update_layout(barmode="group")
        fig.update_xaxes(type="date", tickformat="%b %d")
        return fig

    funnel = data["onboardingFunnel"]
    levels = data["cefrDistribution"]
    pairs = data["languagePairs"][:10]
    rate = data["acceptanceRate"]
    return [
        _card("Signups and active users", line("signups", "activeUsers")),
        _card("Messages", bars("messages")),
        _card("Sessions and minutes", bars("sessions", "sessionMinutes")),
        _card(f"Match requests (acceptance {rate:.0%})" if rate is not None else
              "Match requests", bars("matchRequests", "matchesAccepted")),
        _card("Onboarding funnel", go.Figure(go.Funnel(
            y=["Signed up", "Completed onboarding"],
            x=[funnel["signedUp"], funnel["completedOnboarding"]]))),
        _card("Level tests by CEFR level", go.Figure(go.Bar(
            x=list(CEFR_LEVELS), y=[levels.get(level, 0) for level in CEFR_LEVELS]))),
        _card("Language-pair demand (learners)", go.Figure(go.Bar(
            orientation="h", x=[p["learners"] for p in pairs],
            y=[f"{_language(p['native'])} → {_language(p['target'])}" for p in pairs]))),
    ]  # fmt: skip


def _health_cards(health: dict[str, Any]) -> list[str]:
    rate = health["eventRate"]
    events = go.Figure(go.Scatter(x=[r["minute"] for r in rate], y=[r["events"] for r in rate],
                                  mode="lines", fill="tozeroy"))  # fmt: skip
    projections = health["projections"]
    lag = go.Figure(go.Bar(y=[p["projection"] for p in projections],
                           x=[p["lag"] for p in projections], orientation="h",
                           marker_color=[PALETTE[4] if p["error"] else PALETTE[0]
                                         for p in projections]))  # fmt: skip
    queues = health["queues"]
    jobs = go.Figure([go.Bar(x=[q["queue"] for q in queues], y=[q[k] for q in queues], name=k)
                      for k in ("waiting", "delayed", "dead")])  # fmt: skip
    jobs.update_layout(barmode="group")
    relay = health["relay"]
    relay_note = f" (relay lag {relay['lag']})" if relay else ""
    return [
        _card("Events per minute (last hour)", events),
        _card(f"Projection lag in events{relay_note}", lag, 24 * len(projections) + 80),
        _card("Worker queues: waiting, retrying, dead", jobs),
    ]


@router.get("/dashboard")
def dashboard(
    request: Request, rt: RuntimeDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> Response:
    """The whole runtime on purpose: the health snapshot reads the store, read models, job
    queue and relay, and the cookie check tokens, revocations and roles."""
    try:
        _admin(request, rt)
    except NotAdmin:
        if request.headers.get("authorization") or request.cookies.get(COOKIE):
            return HTMLResponse(html_page("Forbidden", "<form><p>Admins only.</p></form>"), 403)
        return RedirectResponse("/admin/login", status_code=303)
    end = datetime.now(UTC).date()
    data = metrics(rt.read_models, end - timedelta(days=days - 1), end, "day")
    health = snapshot(rt)
    totals = data["totals"]
    tiles = "".join(
        f"<div class='tile'><small>{label}</small><b>{value}</b></div>"
        for label, value in (
            ("Signups", totals.get("signups", 0)), ("Active users", totals.get("activeUsers", 0)),
            ("Messages", totals.get("messages", 0)), ("Sessions", totals.get("sessions", 0)),
            ("Level tests", totals.get("levelTests", 0)), ("Events stored", health["head"]),
        )
    )  # fmt: skip
    body = (
        f"<header><h1>LanguageMate operations</h1><span>last {days} days, UTC · "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC</span></header><main>"
        f"<div class='tiles'>{tiles}</div><h3>Platform</h3>{''.join(_metric_cards(data))}"
        f"<h3>System health</h3>{''.join(_health_cards(health))}</main>"
    )
    # plotly.js loads in the head: each chart's inline script draws it as the page parses.
    script = "<script src='/admin/assets/plotly.min.js'></script>"
    return HTMLResponse(html_page("LanguageMate operations", body, script),
                        headers={"Cache-Control": "no-store"})  # fmt: skip
