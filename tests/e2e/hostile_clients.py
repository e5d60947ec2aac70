"""Clients that misbehave on purpose, over raw TCP: HTTP requests whose bodies are too
large or never end, and WebSockets that send frames too large or stop reading. Standard
clients cannot do any of that (they would buffer, or refuse), so this speaks the two
protocols itself, as far as the tests need."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class Answer:
    """What came back on a connection: the status line and whatever followed."""

    raw: bytes = b""
    error: str = ""
    closed: bool = False

    @property
    def status(self) -> int:
        parts = self.raw.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

    @property
    def headers(self) -> dict[str, str]:
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head)}

    @property
    def body(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[-1]


def read_all(sock: socket.socket, answer: Answer, limit: int = 1 << 20) -> None:
    """Read until the server closes (or resets) the connection."""
    try:
        while len(answer.raw) < limit and (data := sock.recv(65536)):
            answer.raw += data
        answer.closed = True
    except OSError as exc:
        answer.error = repr(exc)
        answer.closed = True


@dataclass
class Request:
    """One request sent the way a careless or hostile client would: headers, then as much
    of ``body_bytes`` as the server takes, reading the answer all along (as browsers do)."""

    port: int
    head: str
    body_bytes: int = 0
    chunked: bool = False
    prefix: bytes = b""
    sent: int = 0
    answer: Answer = field(default_factory=Answer)

    def run(self) -> Request:
        with socket.create_connection((HOST, self.port)) as sock:
            reader = threading.Thread(target=read_all, args=(sock, self.answer))
            reader.start()
            try:
                sock.sendall(self.head.encode("latin-1") + b"\r\n")
                self._send_body(sock)
            except OSError:
                pass  # the server answered and closed: the rest is not wanted
            reader.join(60)
        return self

    def _send_body(self, sock: socket.socket) -> None:
        piece = self.prefix or b"a" * 65536
        while self.sent < self.body_bytes and not self.answer.closed:
            data = piece[: self.body_bytes - self.sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
            self.sent += len(data)
            piece = b"a" * 65536
        if self.chunked and not self.answer.closed:
            sock.sendall(b"0\r\n\r\n")


def post(port: int, path: str, *, length: int | None, headers: dict[str, str] | None = None,
         content_type: str = "application/json") -> str:  # fmt: skip
    """A request head (with ``Content-Length`` or, if ``length`` is None, chunked)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n"


# -- WebSocket ------------------------------------------------------------------------
class RawSocket:
    """A WebSocket client over a plain socket: it sends any frame, of any declared size,
    and reads only when told to (``receive_buffer`` shrinks what the kernel takes for it)."""

    def __init__(self, port: int, path: str, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((HOST, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("closed during the handshake")
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ", 2)[1])

    def send_header(self, length: int, opcode: int = 1) -> None:
        """A final frame's header (masked, as from a client) declaring ``length`` bytes."""
        if length < 126:
            size = struct.pack("!B", 0x80 | length)
        elif length < 1 << 16:
            size = struct.pack("!BH", 0x80 | 126, length)
        else:
            size = struct.pack("!BQ", 0x80 | 127, length)
        self.sock.sendall(struct.pack("!B", 0x80 | opcode) + size + b"\0\0\0\0")

    def send_quietly(self, data: bytes) -> None:
        """Send what the server may already refuse (it closes as soon as it has)."""
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def send_text(self, text: str) -> None:
        data = text.encode()
        self.send_header(len(data))
        self.sock.sendall(data)  # a zero mask leaves the payload as it is

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def next_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server."""
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8))
        return first & 0x0F, self._exactly(length)

    def close_code(self) -> int:
        """Read until the server's close frame; its code (0 if the connection just ended)."""
        try:
            while True:
                opcode, payload = self.next_frame()
                if opcode == 8:
                    return int(struct.unpack("!H", payload[:2])[0]) if payload else 1005
        except OSError:
            return 0

    def drain(self) -> tuple[int, bool]:
        """Read everything the server sent: how many bytes, and whether the connection then
        ended (rather than going quiet for a minute)."""
        total = len(self.buffer)
        self.sock.settimeout(60)
        try:
            while data := self.sock.recv(65536):
                total += len(data)
        except TimeoutError:
            return total, False
        except OSError:
            pass
        return total, True

    def close(self) -> None:
        self.sock.close()
