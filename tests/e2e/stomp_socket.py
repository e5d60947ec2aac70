"""A STOMP 1.2 client over a real WebSocket, as the SPA's chat and notification sockets
speak it, for tests against server processes."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection, connect

from api.stomp import SERVER_COMMANDS, Frame, FrameParser


class Client:
    def __init__(self, url: str, token: str | None) -> None:
        """Connect and send CONNECT: with ``token``, in its ``Authorization`` header; without,
        the token must be in ``url``'s query (as the notification socket carries it)."""
        self.ws: ClientConnection = connect(url, max_size=8 * 1024 * 1024)
        self.parser = FrameParser(commands=SERVER_COMMANDS)
        self.pending: list[Frame] = []
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.send("CONNECT", {"accept-version": "1.2", **auth})
        assert self.next().command == "CONNECTED"

    def send(self, command: str, headers: dict[str, str], body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.ws.send(Frame(command, headers, data).encode().decode())

    def next(self, timeout: float = 20) -> Frame:
        while not self.pending:
            raw = self.ws.recv(timeout=timeout)
            self.pending += [f for f in self.parser.feed(raw) if f.command != "HEARTBEAT"]
        return self.pending.pop(0)
