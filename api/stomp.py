"""STOMP 1.2 frames: an incremental parser and an encoder (https://stomp.github.io/stomp-specification-1.2.html).

No maintained Python library parses STOMP from a byte stream we own (stomp.py's parser is
tied to its own socket transport), so this is a small codec of our own. What it handles:

* frames split across WebSocket messages, and several frames in one message;
* heart-beats: bare EOLs (``\\n`` or ``\\r\\n``) between frames, and either EOL (even
  mixed in one frame) after the command and headers;
* ``content-length`` (a body that may contain NUL), else the body ends at the first NUL;
* header escaping (``\\\\``, ``\\n``, ``\\r``, ``\\c``) except in CONNECT and CONNECTED,
  which the spec leaves unescaped; repeated headers keep the first value;
* limits: a frame larger than ``max_frame_bytes`` is an error, never an unbounded buffer.

Content lengths are counted in UTF-8 bytes, as the SPA's messages contain Korean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NUL = b"\x00"
UNESCAPED_COMMANDS = frozenset({"CONNECT", "CONNECTED"})
CLIENT_COMMANDS = frozenset(
    {"CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT",
     "ABORT", "DISCONNECT"}
)  # fmt: skip
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
_ESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\c": ":"}
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
"""The end of the headers: two EOLs, each ``\\n`` or ``\\r\\n`` (a client may mix them)."""


class FrameError(ValueError):
    """The peer sent something that is not a STOMP frame (the connection must end)."""


@dataclass
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def encode(self) -> bytes:
        """The frame on the wire, with a ``content-length`` in bytes when it has a body."""
        escape = self.command not in UNESCAPED_COMMANDS
        lines = [self.command]
        headers = dict(self.headers)
        if self.body:
            headers["content-length"] = str(len(self.body))
        coded = _escape if escape else str
        lines += [f"{coded(name)}:{coded(value)}" for name, value in headers.items()]
        return ("\n".join(lines) + "\n\n").encode("utf-8") + self.body + NUL


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace(":", "\\c")


def _unescape(value: str) -> str:
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        pair = value[index : index + 2]
        if pair not in _ESCAPES:
            raise FrameError(f"undefined escape {pair!r} in a header")
        out.append(_ESCAPES[pair])
        index += 2
    return "".join(out)


HEARTBEAT = Frame("HEARTBEAT")
"""What :meth:`FrameParser.feed` yields for an EOL between frames."""


class FrameParser:
    """Reads the frames one side may send (clients' by default; tests read servers')."""

    def __init__(
        self, max_frame_bytes: int = 6 * 1024 * 1024, commands: frozenset[str] = CLIENT_COMMANDS
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.commands = commands
        self._buffer = bytearray()

    def feed(self, data: bytes | str) -> list[Frame]:
        """Every complete frame (or :data:`HEARTBEAT`) in the data received so far."""
        self._buffer += data.encode("utf-8") if isinstance(data, str) else data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        if len(self._buffer) > self.max_frame_bytes:
            raise FrameError("frame too large")
        return frames

    def _next(self) -> Frame | None:
        buffer = self._buffer
        if buffer[:1] == b"\n":
            del buffer[:1]
            return HEARTBEAT
        if buffer[:2] == b"\r\n":
            del buffer[:2]
            return HEARTBEAT
        end_of_headers = _BLANK_LINE.search(buffer)
        if end_of_headers is None:
            return None
        head, body_start = bytes(buffer[: end_of_headers.start()]), end_of_headers.end()
        command, headers = self._head(head)
        length = headers.get("content-length")
        if length is not None:
            # isdigit() alone accepts '²' (int() then raises ValueError, which is no
            # FrameError and would drop the socket without an ERROR frame) and '٣'.
            if not (length.isascii() and length.isdigit()):
                raise FrameError("content-length is not a number")
            body_end = body_start + int(length)
            if body_end > self.max_frame_bytes:
                raise FrameError("frame too large")
            if len(buffer) < body_end + 1:
                return None
            if buffer[body_end : body_end + 1] != NUL:
                raise FrameError("frame body is longer than its content-length")
        else:
            body_end = buffer.find(NUL, body_start)
            if body_end == -1:
                return None
        body = bytes(buffer[body_start:body_end])
        del buffer[: body_end + 1]
        return Frame(command, headers, body)

    def _head(self, head: bytes) -> tuple[str, dict[str, str]]:
        try:
            lines = head.decode("utf-8").replace("\r\n", "\n").split("\n")
        except UnicodeDecodeError as exc:
            raise FrameError("frame headers are not UTF-8") from exc
        command = lines[0]
        if command not in self.commands:
            raise FrameError(f"unknown command {command[:20]!r}")
        escaped = command not in UNESCAPED_COMMANDS
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise FrameError("a header line without a colon")
            if escaped:
                name, value = _unescape(name), _unescape(value)
            headers.setdefault(name, value)
        return command, headers
