"""A client's WebSocket frames read directly (http_adapter.read_text_frames, then websockets'
parser from the first frame of another kind on) give the application exactly what
websockets' parser alone gives it, however the bytes are split into reads."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from publicrooms.http_adapter import read_text_frames

MAX_SIZE = 300


def _frame(kind: str, text: str) -> bytes:
    data = text.encode()
    if kind == "text":
        return Frame(Opcode.TEXT, data).serialize(mask=True, extensions=[])
    if kind == "binary":
        return Frame(Opcode.BINARY, data).serialize(mask=True, extensions=[])
    if kind == "ping":
        return Frame(Opcode.PING, data[:100]).serialize(mask=True, extensions=[])
    if kind == "fragment":
        first = Frame(Opcode.TEXT, data[:1], fin=False).serialize(mask=True, extensions=[])
        return first + Frame(Opcode.CONT, data[1:]).serialize(mask=True, extensions=[])
    if kind == "unmasked":
        return Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    if kind == "bad-utf8":
        return Frame(Opcode.TEXT, data + b"\xff").serialize(mask=True, extensions=[])
    if kind == "close":
        return Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True, extensions=[])
    raise AssertionError(kind)


frames = st.lists(st.tuples(
    st.sampled_from(["text"] * 6 + ["binary", "ping", "fragment", "unmasked", "bad-utf8",
                                    "close"]),
    st.one_of(st.text(max_size=40), st.text(min_size=120, max_size=400))), max_size=12)


HANDSHAKE = (b"GET /socket.io/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n\r\n")


def _server() -> ServerProtocol:
    """websockets' server side past the handshake, as the application sees it."""
    server = ServerProtocol(max_size=MAX_SIZE)
    server.receive_data(HANDSHAKE)
    [request] = server.events_received()
    server.send_response(server.accept(request))
    assert server.state is State.OPEN and not server.reader.buffer
    return server


def _reference(data: bytes, cuts: list[int]) -> list:
    server = _server()
    events: list = []
    for chunk in _chunks(data, cuts):
        server.receive_data(chunk)
        events += [(e.opcode.name, bytes(e.data)) for e in server.events_received()]
    return [events, server.parser_exc is not None]


def _direct(data: bytes, cuts: list[int]) -> list:
    """What LeanWebSocketProtocol.data_received does with the same reads."""
    server = _server()
    events: list = []
    direct, partial = True, b""
    for chunk in _chunks(data, cuts):
        if direct:
            chunk, partial = partial + chunk, b""
            texts, used, done = read_text_frames(chunk, MAX_SIZE)
            events += [("TEXT", text.encode()) for text in texts]
            if done:
                partial = chunk[used:]
                continue
            direct, chunk = False, chunk[used:]
        server.receive_data(chunk)
        events += [(e.opcode.name, bytes(e.data)) for e in server.events_received()]
    return [events, server.parser_exc is not None]


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])] or [b""]


@settings(max_examples=400, deadline=None)
@given(frames, st.lists(st.integers(min_value=0, max_value=5000), max_size=8))
def test_direct_reading_gives_what_websockets_gives(sequence: list[tuple[str, str]],
                                                     cuts: list[int]) -> None:
    data = b"".join(_frame(kind, text) for kind, text in sequence)
    assert _direct(data, cuts) == _reference(data, cuts)


def test_frames_of_every_length_class() -> None:
    for payload in ["a" * size for size in (0, 1, 125, 126, 127, 300, 65535)] + [
            "é" * 1000, os.urandom(20).hex()]:
        data = _frame("text", payload)
        assert read_text_frames(data, 70_000) == ([payload], len(data), True)
        assert read_text_frames(data[:-1], 70_000) == ([], 0, True)  # waits for the rest
    big = Frame(Opcode.TEXT, b"x" * 65536).serialize(mask=True, extensions=[])
    assert read_text_frames(big, 70_000) == ([], 0, False)  # 64-bit length: websockets reads it
    assert read_text_frames(_frame("text", "x" * 301), MAX_SIZE) == ([], 0, False)
