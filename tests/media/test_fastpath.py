"""The compiled per-packet path and the Python fallback do the same thing, byte for byte."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pylibsrtp
import pytest

from publicrooms.media import aiortc_adapter as adapter

KEY = bytes(range(44))


def _session(direction: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=direction,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM)
    policy.allow_repeat_tx = True
    return pylibsrtp.Session(policy)


def _packet(seq: int, size: int = 1100) -> bytes:
    return bytes([0x80, 0x80 | 96, seq >> 8, seq & 0xFF, 0, 0, 0, 9, 1, 2, 3, 4]) + os.urandom(size)


def _send_over(send_factory, packets: list[tuple[bytes, int]]) -> list[bytes]:
    """Send through a real loopback socket pair; return what the other side received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        out.bind(("127.0.0.1", 0))
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2.0)
        send = send_factory(out, sink.getsockname())
        for packet, pt in packets:
            assert send(packet, pt) is True
        return [sink.recv(2048) for _ in packets]


@pytest.fixture
def compiled(fastpath: str) -> None:
    if not adapter.use_native(True):
        pytest.fail("publicrooms.media._fastpath is not built: run `pip install -e .`")
    yield
    adapter.use_native(True)


def test_compiled_and_python_send_the_same_bytes(compiled: None) -> None:
    packets = [(_packet(n), 111 if n % 3 == 0 else -1) for n in range(50)]

    def python(out: socket.socket, addr: tuple[str, int]):
        return adapter.python_sender(adapter.srtp_protector(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
                                     out.sendto, addr)

    def native(out: socket.socket, addr: tuple[str, int]):
        sender = adapter.native_sender(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        sender.target(out.fileno(), *addr)
        return sender.send

    assert _send_over(native, packets) == _send_over(python, packets)
    # and the receiving side decrypts them to the packets sent, payload type patched
    received = _send_over(native, packets)
    for unprotect in (adapter.srtp_unprotector(_session(pylibsrtp.Policy.SSRC_ANY_INBOUND)),):
        for (packet, pt), data in zip(packets, received):
            expected = packet if pt < 0 else packet[:1] + bytes([(packet[1] & 0x80) | pt]) + packet[2:]
            assert unprotect(data) == expected


@pytest.mark.parametrize("native", [True, False])
def test_unprotect_refuses_replays_forgeries_and_junk(compiled: None, native: bool) -> None:
    adapter.use_native(native)
    protect = adapter.srtp_protector(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    unprotect = adapter.srtp_unprotector(_session(pylibsrtp.Policy.SSRC_ANY_INBOUND))
    assert type(unprotect).__name__ == ("Unprotector" if native else "function")
    packet = _packet(7)
    data = protect(packet)
    forged = data[:-1] + bytes([data[-1] ^ 1])
    assert unprotect(forged) is None
    assert unprotect(data) == packet
    assert unprotect(data) is None  # replay
    assert unprotect(b"\x80" * 5) is None
    assert unprotect(b"\x80" * 4000) is None


def test_compiled_sender_refuses_what_cannot_be_sent(compiled: None) -> None:
    sender = adapter.native_sender(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    assert sender.send(_packet(1)) is False  # no target yet: discarded, reported
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        out.bind(("127.0.0.1", 0))
        sender.target(out.fileno(), "127.0.0.1", out.getsockname()[1])
        assert sender.send(_packet(2, size=1400)) is False  # no room for the SRTP trailer
        assert sender.send(b"\x80\x60") is False  # not RTP
        with pytest.raises(ValueError):
            sender.target(out.fileno(), "host.example", 5000)  # numeric addresses only
        with pytest.raises(ValueError):
            sender.target(out.fileno(), "127.0.0.1", 0)
        assert sender.send(_packet(3)) is True
        sender.target(-1)
        assert sender.send(_packet(4)) is False
    assert sender.counts() == (1, 2)  # sent, failed (discarding while untargeted is not a failure)


def test_batched_sends_leave_at_the_end_in_one_sendmmsg_per_socket(compiled: None) -> None:
    """Between begin() and end() sends queue; end() sends them, byte for byte as unbatched sends
    (2 x 150 packets: several batches, so a full batch flushes by itself), recv_batch reads them."""
    from publicrooms.media import _fastpath

    packets = [(_packet(n), 111 if n % 3 == 0 else -1) for n in range(150)]
    twin = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    expected = [twin.protect(p if pt < 0 else p[:1] + bytes([(p[1] & 0x80) | pt]) + p[2:]) for p, pt in packets]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        for sock in (out, a, b):
            sock.bind(("127.0.0.1", 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        to_a = adapter.native_sender(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        to_b = adapter.native_sender(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        to_a.target(out.fileno(), *a.getsockname())
        to_b.target(out.fileno(), *b.getsockname())
        calls_before, sent_before = _fastpath.batch_stats()
        _fastpath.begin()
        try:
            for packet, pt in packets:
                assert to_a.send(packet, pt) is True and to_b.send(packet, pt) is True
            assert to_a.send(b"\x80\x60", -1) is False  # not RTP: refused at once, not queued
            # only full batches have left so far
            assert _fastpath.batch_stats()[1] - sent_before == 300 // _fastpath.BATCH * _fastpath.BATCH
        finally:
            tail = _fastpath.end()
        calls, sent = _fastpath.batch_stats()
        assert sent - sent_before == 300 and tail == 300 % _fastpath.BATCH
        assert calls - calls_before == -(-300 // _fastpath.BATCH)  # one sendmmsg per full batch
        assert to_a.counts() == (150, 1) and to_b.counts() == (150, 0)
        for sink in (a, b):
            received: list[bytes] = []
            while len(received) < 150:
                batch = _fastpath.recv_batch(sink.fileno())
                assert batch, f"only {len(received)} of 150 arrived"
                assert {addr for _, addr in batch} == {out.getsockname()}
                received += [data for data, _ in batch]
            assert received == expected
    assert _fastpath.end() == 0  # unbalanced end() is harmless


def _wait_readable(sock: socket.socket) -> None:
    import select

    assert select.select([sock], [], [], 2.0)[0], "nothing arrived"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the raising sink, reported once
def test_demux_unprotects_routed_srtp_and_returns_everything_else(compiled: None) -> None:
    """On a real socket with real SRTP sessions: routed SRTP reaches the receiver's sink, byte for
    byte what the Python unprotector gives; RTCP, STUN, forgeries and unrouted peers go to Python."""
    from publicrooms.media import _fastpath

    got: list[tuple[bytes, int]] = []
    receiver = _fastpath.Receiver(lambda data, arrival: got.append((data, arrival)))
    rx = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    twin = adapter.srtp_unprotector(_session(pylibsrtp.Policy.SSRC_ANY_INBOUND))
    receiver.session(adapter._address(adapter._srtp_lib.srtp_unprotect), adapter._address(rx._srtp[0]), rx)
    protect = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND).protect
    stranger_protect = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND).protect
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        for sock in (shared, peer, stranger):
            sock.bind(("127.0.0.1", 0))
        demux = _fastpath.Demux(shared.fileno())
        with pytest.raises(ValueError):
            demux.route("peer.example", 5000, receiver)
        with pytest.raises(TypeError):
            demux.route("127.0.0.1", 5000, object())
        demux.route("127.0.0.1", peer.getsockname()[1], receiver)
        demux.route("127.0.0.1", peer.getsockname()[1], receiver)  # replaces, does not add
        assert demux.counts()[3] == 1
        packets = [_packet(n, size=200 + n) for n in range(1, 41)]
        protected = [protect(p) for p in packets]
        rtcp = bytes([0x80, 200, 0, 6]) + bytes(24)
        forged = protected[0][:-1] + bytes([protected[0][-1] ^ 1])
        expected_rest = [(rtcp, peer.getsockname()), (forged, peer.getsockname()),
                         (stranger_protect(packets[0]), stranger.getsockname())]
        for data in protected[:20]:
            peer.sendto(data, shared.getsockname())
        peer.sendto(rtcp, shared.getsockname())
        peer.sendto(forged, shared.getsockname())
        stranger.sendto(expected_rest[2][0], shared.getsockname())
        for data in protected[20:]:
            peer.sendto(data, shared.getsockname())
        rest: list[tuple[bytes, object]] = []
        while len(got) + len(rest) < 43:
            _wait_readable(shared)
            rest += demux.read(1234)
        assert rest == expected_rest
        assert [data for data, _ in got] == packets == [twin(data) for data in protected]
        assert {arrival for _, arrival in got} == {1234}
        assert demux.counts()[:3] == (40, 3, 0) and receiver.counts() == 40
        # a replay is refused by the receiving session: Python gets it (and refuses it too)
        peer.sendto(protected[5], shared.getsockname())
        _wait_readable(shared)
        assert demux.read(1) == [(protected[5], peer.getsockname())]
        # a sink that raises costs that packet only
        receiver2 = _fastpath.Receiver(lambda data, arrival: 1 / 0)
        rx2 = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
        receiver2.session(adapter._address(adapter._srtp_lib.srtp_unprotect), adapter._address(rx2._srtp[0]), rx2)
        demux.route("127.0.0.1", stranger.getsockname()[1], receiver2)
        stranger.sendto(stranger_protect(packets[1]), shared.getsockname())
        _wait_readable(shared)
        assert demux.read(1) == [] and demux.counts()[2] == 1
        # unrouted or forgotten: Python again
        assert demux.unroute("127.0.0.1", peer.getsockname()[1]) is True
        assert demux.unroute("127.0.0.1", peer.getsockname()[1]) is False
        receiver2.session()
        for sock, data in ((peer, protect(packets[-1])), (stranger, stranger_protect(packets[2]))):
            sock.sendto(data, shared.getsockname())
        rest = []
        while len(rest) < 2:
            _wait_readable(shared)
            rest += demux.read(1)
        assert len(got) == 40
        demux.close()
        assert demux.counts()[3] == 0 and demux.read(1) == []


def test_without_the_extension_the_worker_falls_back_to_python() -> None:
    """An install without a compiler: the adapter chooses the Python path and its self-test passes."""
    code = (
        "import sys, asyncio; sys.modules['publicrooms.media._fastpath'] = None\n"
        "from publicrooms.media import aiortc_adapter as a\n"
        "assert a.use_native(True) is False and not a.native_in_use()\n"
        "assert a.native_sender(None) is None\n"
        "asyncio.run(a.self_test()); print('fallback ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "fallback ok"


def test_an_out_of_date_extension_is_not_used() -> None:
    """An extension built from an older _fastpath.c (no batching) gives the Python path, not a crash."""
    code = (
        "import sys, types, asyncio\n"
        "stale = types.ModuleType('publicrooms.media._fastpath')\n"
        "stale.Sender = stale.Unprotector = object\n"
        "sys.modules['publicrooms.media._fastpath'] = stale\n"
        "from publicrooms.media import aiortc_adapter as a\n"
        "assert a.use_native(True) is False and a.batch_stats() == (0, 0)\n"
        "asyncio.run(a.self_test()); print('fallback ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "fallback ok"
    assert "out of date" in result.stderr
