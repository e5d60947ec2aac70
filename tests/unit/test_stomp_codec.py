"""The STOMP 1.2 codec on the edge cases real clients produce."""

from __future__ import annotations

import pytest

from api.stomp import HEARTBEAT, SERVER_COMMANDS, Frame, FrameError, FrameParser

SEND = (
    b"SEND\ndestination:/pub/chat/message\ncontent-type:application/json\n"
    b'content-length:17\n\n{"message":"\xec\x95\x88"}\x00'
)


def test_a_frame_split_across_messages_is_assembled() -> None:
    parser = FrameParser()
    assert parser.feed(SEND[:10]) == []
    assert parser.feed(SEND[10:40]) == []
    (frame,) = parser.feed(SEND[40:])
    assert frame.command == "SEND"
    assert frame.headers["destination"] == "/pub/chat/message"
    assert frame.text == '{"message":"안"}'


def test_several_frames_and_heartbeats_in_one_message() -> None:
    data = b"\n" + SEND + b"\r\n" + b"SUBSCRIBE\nid:sub-0\ndestination:/sub/chat/room/1\n\n\x00\n"
    frames = FrameParser().feed(data)
    assert [f.command for f in frames] == [
        "HEARTBEAT",
        "SEND",
        "HEARTBEAT",
        "SUBSCRIBE",
        "HEARTBEAT",
    ]
    assert frames[0] is HEARTBEAT


def test_content_length_allows_nul_inside_the_body() -> None:
    (frame,) = FrameParser().feed(b"SEND\ndestination:/x\ncontent-length:3\n\na\x00b\x00")
    assert frame.body == b"a\x00b"


def test_a_body_longer_than_its_content_length_is_refused() -> None:
    with pytest.raises(FrameError, match="longer"):
        FrameParser().feed(b"SEND\ncontent-length:1\n\nab\x00")


def test_header_escapes_round_trip_except_in_connect_frames() -> None:
    frame = Frame("MESSAGE", {"destination": "/a:b", "note": "line\nbreak\\"}, b"x")
    parser = FrameParser(commands=SERVER_COMMANDS)
    (parsed,) = parser.feed(frame.encode())
    assert parsed.headers["destination"] == "/a:b"
    assert parsed.headers["note"] == "line\nbreak\\"
    (connect,) = FrameParser().feed(b"CONNECT\nAuthorization:Bearer a:b\\c\n\n\x00")
    assert connect.headers["Authorization"] == "Bearer a:b\\c"  # CONNECT is not unescaped
    with pytest.raises(FrameError, match="escape"):
        FrameParser().feed(b"SEND\ndestination:/bad\\t\n\n\x00")


def test_repeated_headers_keep_the_first_value_and_crlf_lines_parse() -> None:
    (frame,) = FrameParser().feed(b"SEND\r\ndestination:/first\r\ndestination:/second\r\n\r\nx\x00")
    assert frame.headers["destination"] == "/first"
    assert frame.body == b"x"


def test_content_length_is_utf8_bytes() -> None:
    body = '{"message":"안녕하세요"}'.encode()
    encoded = Frame("MESSAGE", {"destination": "/sub/chat/room/1"}, body).encode()
    assert f"content-length:{len(body)}\n".encode() in encoded
    assert len(body) != len(body.decode())


def test_garbage_and_oversized_frames_end_the_connection() -> None:
    with pytest.raises(FrameError, match="unknown command"):
        FrameParser().feed(b"HELLO\n\n\x00")
    with pytest.raises(FrameError, match="too large"):
        FrameParser(max_frame_bytes=100).feed(b"SEND\n\n" + b"x" * 200)
    with pytest.raises(FrameError, match="too large"):
        FrameParser(max_frame_bytes=100).feed(b"SEND\ncontent-length:5000\n\n")
    with pytest.raises(FrameError, match="colon"):
        FrameParser().feed(b"SEND\nnocolon\n\n\x00")
