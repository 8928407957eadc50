"""The compiled per-packet path and the Python fallback do the same thing, byte for byte."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

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


def test_demux_without_a_clock_stamps_arrivals_with_the_system_clock(compiled: None) -> None:
    """Demux(fd, None, dispatch) reads the wall clock in C: poll() hands the sink an NTP-epoch
    arrival in milliseconds between the system's time before and after the poll."""
    from publicrooms.media import _fastpath

    got: list[int] = []
    receiver = _fastpath.Receiver(lambda data, arrival: got.append(arrival))
    rx = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    receiver.session(adapter._address(adapter._srtp_lib.srtp_unprotect), adapter._address(rx._srtp[0]), rx)
    protect = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND).protect
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        for sock in (shared, peer):
            sock.bind(("127.0.0.1", 0))
        with pytest.raises(TypeError):
            _fastpath.Demux(shared.fileno(), 1.5)
        demux = _fastpath.Demux(shared.fileno(), None, lambda rest: pytest.fail(f"to Python: {rest}"))
        demux.route("127.0.0.1", peer.getsockname()[1], receiver)
        peer.sendto(protect(_packet(1)), shared.getsockname())
        _wait_readable(shared)
        before_ms = int((time.time() + 2_208_988_800) * 1000)
        demux.poll()
        after_ms = int((time.time() + 2_208_988_800) * 1000)
        demux.close()
    assert len(got) == 1 and before_ms - 1 <= got[0] <= after_ms + 1


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
        assert demux.counts()[:3] == (40, 3, 0) and receiver.counts() == (40, 0, 0)
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


# --- the compiled up track forward against the Python path ----------------------------------

AUDIO_LEVEL_ID, MID_ID = 1, 4  # the publisher's ids; subscribers get the audio level as 2, no mid


class _Down:
    """A live down track reduced to what UpTrack uses: write() through `send`, compiled() its DownForward."""

    def __init__(self, send, compiled=None) -> None:  # noqa: ANN001
        self.live = True
        self._send = send
        self._compiled = compiled

    def compiled(self):  # noqa: ANN201
        return self._compiled

    def write(self, packet: bytes, seq: int, keyframe: bool) -> None:
        assert self._send(packet, -1) is not False

    def source_closed(self) -> None:
        self.live = False


def _audio_uptrack():  # noqa: ANN202
    from aiortc import RTCRtpCodecParameters

    from publicrooms.clock import Clock
    from publicrooms.media.uptrack import AUDIO_LEVEL_URI, MID_URI, UpTrack

    uptrack = UpTrack(participant_id="p", kind="audio", clock=Clock(), pli_throttle_s=0.5, history_packets=64)
    uptrack.out_ssrc = 0x0A0B0C0D
    uptrack.attach_source(lambda ssrc: None, lambda ssrc, lost: None)
    uptrack.configure(adapter.ReceiveInfo(
        kind="audio", mid="0",
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)],
        header_extensions={AUDIO_LEVEL_URI: AUDIO_LEVEL_ID, MID_URI: MID_ID}, ssrcs=(77,), rtx_ssrcs={}, rtcp_ssrc=5,
    ))
    uptrack.down_pt = 109
    return uptrack


def _opus(seq: int, ssrc: int = 77, level: int = 30, padding: bool = False) -> bytes:
    """Opus RTP with one-byte extensions: audio level (voice bit), mid, padding bytes between."""
    extension = bytes([0xBE, 0xDE, 0, 3, (AUDIO_LEVEL_ID << 4) | 0, 0x80 | level, 0, (MID_ID << 4) | 1, ord("0"), 0,
                       0, 0, 0, 0, 0, 0])[:16]
    flags = 0x90 | (0x20 if padding else 0)
    header = bytes([flags, 111, seq >> 8 & 0xFF, seq & 0xFF]) + (seq * 960).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
    payload = bytes([0xFC]) + os.urandom(60)
    return header + extension + (bytes(3) + b"\x04" if padding else payload)


def _scenario() -> list[list[tuple[bytes, int]]]:
    """Phases of (packet, arrival ms); between phases the track is muted, then unmuted."""
    steady = [_opus(s, level=s % 100) for s in range(1000, 1040)]
    gap = [_opus(s) for s in range(1043, 1050)]  # 1040-1042 lost
    late = [_opus(1041)]  # a late packet (a duplicate would be an SRTP replay, refused before RTP)
    padded = [_opus(1050, padding=True)] + [_opus(s) for s in range(1051, 1060)]
    restart = [_opus(s, ssrc=99) for s in range(7, 30)]  # the publisher came back with a new SSRC
    first = [(p, 5000 + i * 20) for i, p in enumerate(steady + gap + late + padded)]
    muted = [(_opus(s), 7000 + s) for s in range(1060, 1070)]
    after = [(p, 9000 + i * 20) for i, p in enumerate([_opus(s) for s in range(1070, 1090)] + restart)]
    return [first, muted, after]


def _run_python(phases: list[list[tuple[bytes, int]]]):  # noqa: ANN202
    adapter.use_native(False)
    uptrack = _audio_uptrack()
    assert uptrack.forward is None
    out: list[bytes] = []
    uptrack.add_downtrack(_Down(lambda packet, pt: out.append(packet) or True))
    for index, phase in enumerate(phases):
        uptrack.set_muted(index == 1)
        for packet, arrival in phase:
            uptrack.on_rtp(packet, arrival)
    return out, uptrack


def _run_compiled(phases: list[list[tuple[bytes, int]]]):  # noqa: ANN202
    import select

    from publicrooms.media import _fastpath

    adapter.use_native(True)
    uptrack = _audio_uptrack()
    assert uptrack.forward is not None
    rx = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    tracked: set[int] = set()
    receiver = None

    def sink(data: bytes, arrival: int) -> None:  # what Publisher._on_rtp does
        uptrack.on_rtp(data, arrival)
        ssrc = int.from_bytes(data[8:12], "big")
        if ssrc not in tracked and uptrack.media_ssrc == ssrc:
            tracked.add(ssrc)
            receiver.track(ssrc, uptrack.forward)

    receiver = _fastpath.Receiver(sink)
    receiver.session(adapter._address(adapter._srtp_lib.srtp_unprotect), adapter._address(rx._srtp[0]), rx)
    protect = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND).protect
    unprotect = adapter.srtp_unprotector(_session(pylibsrtp.Policy.SSRC_ANY_INBOUND))
    arrival_s = [0.0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as subscriber:
        for sock in (shared, peer, subscriber):
            sock.bind(("127.0.0.1", 0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        demux = _fastpath.Demux(shared.fileno(), lambda: arrival_s[0], lambda rest: pytest.fail(f"to Python: {rest}"))
        demux.route("127.0.0.1", peer.getsockname()[1], receiver)
        sender = adapter.native_sender(_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        sender.target(shared.fileno(), *subscriber.getsockname())
        uptrack.add_downtrack(_Down(sender.send, _fastpath.DownForward(sender, -1)))
        for index, phase in enumerate(phases):
            uptrack.set_muted(index == 1)
            for packet, arrival in phase:  # one datagram per poll: each with its own arrival time
                arrival_s[0] = arrival / 1000 - 2_208_988_800
                peer.sendto(protect(packet), shared.getsockname())
                assert select.select([shared], [], [], 2.0)[0]
                demux.poll()
        out: list[bytes] = []
        subscriber.setblocking(False)
        while True:
            try:
                out.append(unprotect(subscriber.recv(2048)))
            except BlockingIOError:
                break
        forwarded = demux.counts()[4]
        demux.close()
    return out, uptrack, forwarded


def test_compiled_forward_sends_what_the_python_path_sends(compiled: None) -> None:
    """Same packets, same state changes: the compiled forward (real socket, real SRTP both ways)
    and the Python path forward the same bytes (rewritten seq/ts/ssrc/pt, audio level id 1 -> 2,
    mid blanked), skip the same drops, and leave the same state and counts behind."""
    phases = _scenario()
    python_out, python_track = _run_python(phases)
    compiled_out, compiled_track, forwarded = _run_compiled(phases)
    assert len(python_out) == 40 + 7 + 1 + 9 + 20 + 23  # the padding-only and the muted are dropped
    assert compiled_out == python_out
    assert forwarded > len(python_out) // 2  # most went through C, not Python
    compiled_track.sync()
    for name in ("packets_in", "packets_dropped", "highest_seq", "last_out_seq", "last_out_ts", "last_arrival_ms",
                 "level_peak", "_seq_offset", "_ts_offset"):
        assert getattr(compiled_track, name) == getattr(python_track, name), name
    assert compiled_track.missing == python_track.missing  # the restart cleared both
    # one history per up track: every forwarded packet is there for NACKs, on both paths
    for packet in python_out[-20:]:
        seq = (packet[2] << 8) | packet[3]
        assert compiled_track.retained(seq) == python_track.retained(seq) == packet
    assert compiled_track.retained((((python_out[-1][2] << 8) | python_out[-1][3]) + 1) & 0xFFFF) is None
    compiled_track.close()
    assert compiled_track.retained((python_out[-1][2] << 8) | python_out[-1][3]) is None


def test_compiled_forward_refuses_bad_parameters(compiled: None) -> None:
    from publicrooms.media import _fastpath

    with pytest.raises(ValueError):
        _fastpath.UpForward(100)  # not a power of two
    forward = _fastpath.UpForward(32)
    with pytest.raises(TypeError):
        forward.set(True, 1, 96, 0, 0, 0, 2, -1, [object()])
    with pytest.raises(TypeError):
        forward.set(True, 1, 96, 0, 0, 0, 2, -1, (object(),))
    with pytest.raises(ValueError):
        forward.extensions(bytes(15), 0)
    with pytest.raises(TypeError):
        _fastpath.DownForward(object())
    receiver = _fastpath.Receiver(lambda data, arrival: None)
    with pytest.raises(TypeError):
        receiver.track(1, object())
    assert all(receiver.track(ssrc, forward) for ssrc in range(8))
    assert receiver.track(9, forward) is False  # table full: Python keeps that SSRC
    receiver.track(3, None)
    assert receiver.counts()[2] == 7 and receiver.track(9, forward) is True
    receiver.untrack_all()
    assert receiver.counts()[2] == 0
    assert forward.pull() is None and forward.packet(5) is None and not forward.enabled
