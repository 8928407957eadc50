"""ICE over TCP framing and limits (media/icetcp.py) against real sockets, without aiortc.

The listener is real (a TCP port on loopback); `authenticate` is a stand-in for the ICE owner
lookup: it accepts a first frame starting with b"open" and then echoes every frame back.
Time-outs run on a FakeClock.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from publicrooms.clock import FakeClock
from publicrooms.media.icetcp import FramedStream, IceTcpLimits, IceTcpListener, frame

LIMITS = IceTcpLimits(max_frame_bytes=1500, max_buffered_bytes=64 * 1024, max_pending=4,
                      auth_timeout_s=5.0, idle_timeout_s=30.0)


class Echo:
    """Owner of authenticated streams: echoes frames, records what reached it."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.lost = 0
        self.streams: list[FramedStream] = []
        self.fail_with: Exception | None = None

    def authenticate(self, first: bytes, stream: FramedStream) -> bool:
        if self.fail_with is not None:
            raise self.fail_with
        if not first.startswith(b"open"):
            return False
        self.streams.append(stream)

        def on_frame(data: bytes, peer: object) -> None:
            self.frames.append(data)
            stream.sendto(data, peer)

        stream.attach(on_frame, lambda exc: setattr(self, "lost", self.lost + 1))
        on_frame(first, stream.peer)
        return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def echo_listener(clock: FakeClock) -> AsyncIterator[tuple[IceTcpListener, Echo]]:
    echo = Echo()
    listener = await IceTcpListener.open("127.0.0.1", 0, LIMITS, echo.authenticate, clock)
    yield listener, echo
    listener.close()


async def connect(listener: IceTcpListener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", listener.port)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 5))
    return await asyncio.wait_for(reader.readexactly(size), 5)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server ends the stream (EOF or reset), whatever it sent before."""
    try:
        while await asyncio.wait_for(reader.read(65536), 5):
            pass
    except ConnectionResetError:
        pass
    return True


async def until(predicate, what: str) -> None:  # noqa: ANN001
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def echoed(listener: IceTcpListener) -> None:
    """The listener still serves a well-behaved stream."""
    reader, writer = await connect(listener)
    writer.write(frame(b"open-again"))
    assert await read_frame(reader) == b"open-again"
    writer.close()


async def test_frames_survive_any_split_and_come_back_framed(echo_listener) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    reader, writer = await connect(listener)
    payloads = [b"open", b"\x16" * 1500, b"\x80" + bytes(range(200)), b"x"]
    wire = b"".join(frame(p) for p in payloads)
    writer.write(wire[:1])  # byte by byte first, then the rest in one go
    for i in range(1, 40):
        await writer.drain()
        writer.write(wire[i:i + 1])
    writer.write(wire[40:])
    assert [await read_frame(reader) for _ in payloads] == payloads
    assert echo.frames == payloads and listener.counts() == (0, 1)
    writer.close()
    await until(lambda: echo.lost == 1 and listener.counts() == (0, 0), "stream end not reported once")


@pytest.mark.parametrize("bad", [
    struct.pack("!H", 0),  # empty frame
    struct.pack("!H", 1501) + bytes(1501),  # longer than max_frame_bytes
    struct.pack("!H", 0xFFFF),  # announces 64 KiB and never sends it
    frame(b"GET / HTTP/1.1"),  # not an ICE check
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not even framed
])
async def test_bad_input_closes_only_its_own_stream(echo_listener, bad: bytes) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    good_reader, good_writer = await connect(listener)
    good_writer.write(frame(b"open"))
    assert await read_frame(good_reader) == b"open"
    reader, writer = await connect(listener)
    writer.write(bad)
    assert await closed_by_server(reader)
    await until(lambda: listener.counts() == (0, 1), "bad stream still held")
    assert listener.refused == 1
    good_writer.write(frame(b"still here"))
    assert await read_frame(good_reader) == b"still here"
    await echoed(listener)
    good_writer.close()


async def test_an_authenticated_stream_closes_on_a_bad_frame_too(echo_listener) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    reader, writer = await connect(listener)
    writer.write(frame(b"open") + struct.pack("!H", 1501) + bytes(1501))
    assert await read_frame(reader) == b"open"
    assert await closed_by_server(reader)
    await until(lambda: echo.lost == 1, "owner not told")


async def test_a_failing_owner_lookup_closes_the_stream(echo_listener) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    echo.fail_with = ValueError("malformed STUN")
    reader, writer = await connect(listener)
    writer.write(frame(b"open"))
    assert await closed_by_server(reader)
    echo.fail_with = None
    await echoed(listener)


async def test_streams_waiting_to_authenticate_are_capped(echo_listener) -> None:  # noqa: ANN001
    listener, _ = echo_listener
    idle = [await connect(listener) for _ in range(LIMITS.max_pending)]
    await until(lambda: listener.counts()[0] == LIMITS.max_pending, "pending streams not admitted")
    reader, _ = await connect(listener)
    assert await closed_by_server(reader)  # one too many: refused at once
    assert listener.counts() == (LIMITS.max_pending, 0)
    for _, writer in idle:
        writer.close()
    await until(lambda: listener.counts() == (0, 0), "closed pending streams still counted")
    await echoed(listener)


async def test_silent_streams_time_out(echo_listener, clock: FakeClock) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    silent_reader, _ = await connect(listener)  # never authenticates
    reader, writer = await connect(listener)
    writer.write(frame(b"open"))
    assert await read_frame(reader) == b"open"
    await until(lambda: listener.counts() == (1, 1), "streams not accepted")

    clock.advance(LIMITS.auth_timeout_s)
    assert await closed_by_server(silent_reader)
    await until(lambda: listener.counts() == (0, 1), "unauthenticated stream kept")
    writer.write(frame(b"consent"))  # the authenticated one lives on while it hears from its peer
    assert await read_frame(reader) == b"consent"

    clock.advance(LIMITS.idle_timeout_s)
    assert await closed_by_server(reader)
    await until(lambda: listener.counts() == (0, 0) and echo.lost == 1, "idle stream kept")
    assert listener.timed_out == 2


async def test_a_peer_that_stops_reading_costs_bounded_memory(echo_listener) -> None:  # noqa: ANN001
    listener, echo = echo_listener
    reader, writer = await connect(listener)
    writer.write(frame(b"open"))
    assert await read_frame(reader) == b"open"
    (stream,) = echo.streams
    transport = stream._transport  # noqa: SLF001 - the write buffer is what is being bounded
    packet = b"\x80" + bytes(1199)
    while stream.dropped == 0:  # the kernel's buffers fill first, then ours, then packets drop
        for _ in range(100):
            stream.sendto(packet)
        await asyncio.sleep(0)
    for _ in range(1000):
        stream.sendto(packet)
    assert transport.get_write_buffer_size() <= LIMITS.max_buffered_bytes
    assert stream.dropped > 1000
    writer.close()


async def test_closing_the_listener_ends_every_stream(clock: FakeClock) -> None:
    echo = Echo()
    listener = await IceTcpListener.open("127.0.0.1", 0, LIMITS, echo.authenticate, clock)
    reader, writer = await connect(listener)
    writer.write(frame(b"open"))
    assert await read_frame(reader) == b"open"
    pending_reader, _ = await connect(listener)
    await until(lambda: listener.counts() == (1, 1), "streams not accepted")
    listener.close()
    assert await closed_by_server(reader) and await closed_by_server(pending_reader)
    await until(lambda: echo.lost == 1 and listener.counts() == (0, 0), "streams kept after close")
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", listener.port)
