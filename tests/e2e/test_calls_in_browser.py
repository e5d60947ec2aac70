"""Two browsers meet in an audio room and the call connects, whatever order they join in.

Headless Chromium (Debian's, through Playwright) runs two pages on two API processes. Each
page does what the SPA's ``webrtcManager`` does, request for request: ``GET ice-servers``
and ``POST join`` with ``fetch(credentials:'include')`` from the SPA's origin, the
signalling socket with ``userId`` in its query, ``get-participants`` once open, a peer
connection *with an offer* for everyone in ``connected``, ``participants-list`` and
``participant-joined`` (unless one exists), an answer to every offer, and ICE candidates
buffered until the remote description is set. Real ``RTCPeerConnection``s with a fake
microphone; the call counts as connected when both sides' ICE reaches ``connected``.

Told about each other at the same moment, two such pages both offer and never connect
(glare). The server's ordering (``api/rooms.py``) must leave exactly one offer per pair.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Processes, two_apis

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONNECTED = ("connected", "completed")

PAGE = """<!doctype html><meta charset="utf-8"><title>call</title><script>
window.call = async (api, room, me) => {
  const state = window.callState = {offers: 0, ice: {}, errors: [], log: []};
  const pcs = {}, waiting = {};
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: false});
  const servers = await fetch(`${api}/api/v1/room/${room}/ice-servers`,
                              {credentials: 'include'}).then(r => r.json());
  const joined = await fetch(`${api}/api/v1/room/${room}/join`, {
    method: 'POST', credentials: 'include', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({userId: me, userName: me})});
  if (!joined.ok) throw new Error(`join answered ${joined.status}`);
  const ws = new WebSocket(
    `${api.replace('http', 'ws')}/api/v1/room/${room}/ws?userId=${me}&userName=${me}`);
  const send = message => ws.send(JSON.stringify(message));
  const peer = async (remote, offer) => {
    if (pcs[remote]) return pcs[remote];
    const pc = pcs[remote] = new RTCPeerConnection({iceServers: servers.data.iceServers});
    stream.getTracks().forEach(track => pc.addTrack(track, stream));
    pc.onicecandidate = e => e.candidate &&
      send({type: 'ice-candidate', data: {to: remote, candidate: e.candidate.toJSON()}});
    pc.oniceconnectionstatechange = () => { state.ice[remote] = pc.iceConnectionState; };
    if (offer) {
      const description = await pc.createOffer();
      await pc.setLocalDescription(description);
      state.offers += 1;
      send({type: 'offer', data: {to: remote, signal: description}});
    }
    return pc;
  };
  const everyone = async list => {
    for (const p of list || []) if ((p.userId || p.id) !== me) await peer(p.userId || p.id, true);
  };
  const handle = async message => {
    state.log.push(message.type);
    try {
      switch (message.type) {
        case 'connected': return await everyone(message.roomData.participants);
        case 'participants-list': return await everyone(message.participants);
        case 'participant-joined': {
          const id = message.participant.userId || message.participant.id;
          return id === me ? undefined : await peer(id, true);
        }
        case 'offer': {
          const pc = await peer(message.from, false);
          await pc.setRemoteDescription(message.data);
          for (const c of waiting[message.from] || []) await pc.addIceCandidate(c);
          delete waiting[message.from];
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          return send({type: 'answer', data: {to: message.from, signal: answer}});
        }
        case 'answer': return await pcs[message.from].setRemoteDescription(message.data);
        case 'ice-candidate': {
          const c = message.data.candidate && message.data.to ? message.data.candidate
                                                               : message.data;
          const pc = pcs[message.from];
          if (pc && pc.remoteDescription) return await pc.addIceCandidate(c);
          (waiting[message.from] = waiting[message.from] || []).push(c);
        }
      }
    } catch (error) { state.errors.push(`${message.type}: ${error}`); }
  };
  ws.onmessage = event => handle(JSON.parse(event.data));
  await new Promise((open, fail) => { ws.onopen = open; ws.onerror = fail; });
  send({type: 'get-participants'});
};
</script>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def spa_origin() -> Iterator[str]:
    """The page served over HTTP from loopback, as ``vite preview`` serves the SPA (Chromium
    lets only a page on a loopback address call a loopback API)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail("Chromium is needed for the call test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            "--disable-features=WebRtcHideLocalIpsWithMdns"])  # fmt: skip
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any, origin: str) -> Any:
    """A page of its own browser context (one user)."""
    page = browser.new_context().new_page()
    page.goto(f"{origin}/call.html")
    return page


@pytest.fixture
def bases(
    distributed_env: dict[str, str], redis_url: str, processes: Processes, spa_origin: str
) -> list[str]:
    """Two API processes that let the page's origin in and offer no outside STUN server
    (host candidates connect two browsers on one machine)."""
    env = {**distributed_env, "LANGUAGEMATE_REDIS_URL": redis_url,
           "LANGUAGEMATE_CORS_ORIGINS": spa_origin, "LANGUAGEMATE_STUN_URLS": ""}  # fmt: skip
    return two_apis(processes, env)[1]


@pytest.mark.parametrize("order", ["first-then-second", "second-then-first", "together"])
def test_two_browsers_connect_with_one_offer_whatever_order_they_join_in(
    order: str, bases: list[str], browser: Any, spa_origin: str
) -> None:
    created = httpx.post(f"{bases[0]}/api/v1/room/create", timeout=30,
                         json={"roomType": "audio", "maxParticipants": 2})  # fmt: skip
    assert created.status_code == 200, created.text
    room = created.json()["data"]["roomId"]
    pages = {name: (_page(browser, spa_origin), base)
             for name, base in (("mina", bases[0]), ("jun", bases[1]))}  # fmt: skip
    names = list(pages) if order != "second-then-first" else list(reversed(pages))

    calls = []
    for name in names:
        page, base = pages[name]
        # evaluate() returns once the socket is open; "together" starts both before either
        # has opened its socket.
        script = f"window.done = window.call({base!r}, {room!r}, {name!r})"
        page.evaluate(script) if order == "together" else page.evaluate(f"{script}; window.done")
        calls.append(page)
    for page in calls:
        page.evaluate("window.done")

    for name, (page, _) in pages.items():
        other = next(n for n in pages if n != name)
        page.wait_for_function(
            f"{list(CONNECTED)!r}.includes((window.callState.ice || {{}})[{other!r}])",
            timeout=30_000,
        )
    states = {name: page.evaluate("window.callState") for name, (page, _) in pages.items()}
    assert all(s["errors"] == [] for s in states.values()), states
    assert sum(s["offers"] for s in states.values()) == 1, states  # no glare: one offerer
