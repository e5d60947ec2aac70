"""Properties of the STOMP codec (api/stomp.py) over generated frames and byte streams.

A WebSocket peer decides how its bytes are cut into messages, so the parser must give the
same frames however the stream is split, and a hostile peer must only ever cause a
``FrameError`` (which the socket answers with an ERROR frame), never another exception
that would tear the connection down without one.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.stomp import (
    CLIENT_COMMANDS,
    HEARTBEAT,
    SERVER_COMMANDS,
    UNESCAPED_COMMANDS,
    Frame,
    FrameError,
    FrameParser,
)

# Surrogates cannot be encoded as UTF-8, so no peer can send them.
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
# CONNECT and CONNECTED headers are not escaped: a name cannot hold ':' and neither part
# can hold an EOL, or the frame could not be written at all.
_RAW_NAME = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=":\r\n"),
                    max_size=20)  # fmt: skip
_RAW_VALUE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"),
                     max_size=30)  # fmt: skip
_BODY = st.binary(max_size=200)
_HEARTBEATS = st.sampled_from([b"\n", b"\r\n"])
_PIECES = [b"\x00", b"\n", b"\r\n", b"\n\n", b"SEND\n", b"CONNECT\n", b":", b"content-length:",
           b"\\", b"\xff\xfe", b"\xc3"]  # fmt: skip


@st.composite
def frames(draw: st.DrawFn, commands: frozenset[str] = CLIENT_COMMANDS) -> Frame:
    """Any frame a peer may write; ``content-length`` is left to the encoder, which owns it."""
    command = draw(st.sampled_from(sorted(commands)))
    raw = command in UNESCAPED_COMMANDS
    names, values = (_RAW_NAME, _RAW_VALUE) if raw else (_TEXT, _TEXT)
    headers = draw(st.dictionaries(names.filter(lambda n: n != "content-length"), values,
                                   max_size=5))  # fmt: skip
    return Frame(command, headers, draw(_BODY))


def expected(frame: Frame) -> Frame:
    """What the parser should read back: the frame plus the length the encoder added."""
    headers = dict(frame.headers)
    if frame.body:
        headers["content-length"] = str(len(frame.body))
    return Frame(frame.command, headers, frame.body)


def without_length(frame: Frame) -> bytes:
    """The frame as clients like stomp.js write it when they omit ``content-length``: the
    body then ends at the first NUL, so it must not contain one."""
    head = frame.encode()
    if not frame.body:
        return head
    head = head[: head.index(b"content-length:")]
    return head + b"\n" + frame.body + b"\x00"


def with_eols(data: bytes, eols: list[bytes]) -> bytes:
    """The frame with its command and header lines ended by ``eols`` in turn (LF or CRLF,
    which a client may mix); the body is left alone."""
    end = data.index(b"\n\n") + 1
    lines = [*data[:end].split(b"\n")[:-1], b""]
    ends = [eols[i % len(eols)] for i in range(len(lines))]
    return b"".join(line + eol for line, eol in zip(lines, ends, strict=True)) + data[end + 1 :]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Frame]]:
    """Frames (with LF, CRLF or mixed line ends) and heart-beat EOLs back to back, with the
    frames the parser must yield."""
    data, wanted = b"", []
    for _ in range(draw(st.integers(1, 6))):
        for beat in draw(st.lists(_HEARTBEATS, max_size=2)):
            data += beat
            wanted.append(HEARTBEAT)
        frame = draw(frames())
        eols = draw(st.lists(_HEARTBEATS, min_size=1, max_size=4))
        if b"\x00" not in frame.body and draw(st.booleans()):
            data += with_eols(without_length(frame), eols)
            wanted.append(Frame(frame.command, dict(frame.headers), frame.body))
        else:
            data += with_eols(frame.encode(), eols)
            wanted.append(expected(frame))
    return data, wanted


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    return [frame for chunk in chunks for frame in parser.feed(chunk)]


@given(frames())
def test_any_client_frame_reads_back_as_written(frame: Frame) -> None:
    assert FrameParser().feed(frame.encode()) == [expected(frame)]


@given(frames(SERVER_COMMANDS))
def test_any_server_frame_reads_back_as_written(frame: Frame) -> None:
    assert FrameParser(commands=SERVER_COMMANDS).feed(frame.encode()) == [expected(frame)]


@given(streams(), st.lists(st.integers(0, 2000), max_size=12))
def test_a_stream_decodes_identically_however_it_is_cut_into_messages(
    stream: tuple[bytes, list[Frame]], cuts: list[int]
) -> None:
    data, wanted = stream
    assert FrameParser().feed(data) == wanted
    assert feed_all(FrameParser(), split(data, cuts)) == wanted


@given(streams())
def test_a_stream_fed_one_byte_at_a_time_decodes_the_same(
    stream: tuple[bytes, list[Frame]],
) -> None:
    data, wanted = stream
    assert feed_all(FrameParser(), [data[i : i + 1] for i in range(len(data))]) == wanted


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(_PIECES),
            _TEXT.map(str.encode),
        ),
        max_size=12,
    )
)
def test_garbage_only_ever_raises_a_frame_error(pieces: list[bytes]) -> None:
    """The socket turns FrameError into an ERROR frame; anything else would escape its
    handler and drop the connection without telling the client why."""
    parser = FrameParser(max_frame_bytes=4096)
    try:
        for piece in pieces:
            parser.feed(piece)
    except FrameError:
        pass


# Digits of every script: str.isdigit() accepts '²' and '٣', int() only some of them.
_NUMBERISH = st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=4)


@given(st.one_of(_NUMBERISH, _TEXT), st.binary(max_size=20))
def test_any_content_length_header_either_frames_the_body_or_is_a_frame_error(
    length: str, body: bytes
) -> None:
    data = f"SEND\ndestination:/x\ncontent-length:{length}\n\n".encode() + body + b"\x00"
    try:
        parsed = FrameParser().feed(data)
    except FrameError:
        return
    assert length.isascii() and length.isdigit(), "a length in other digits was accepted"
    assert all(frame.command == "SEND" for frame in parsed)
