"""Every use of aiortc/aioice internals lives here, behind small functions.

aiortc has no public API for forwarding encoded media: an SFU must take decrypted RTP out of
the DTLS transport before the receiver's jitter buffer and decoder, keep the receiver's decoder
from ever starting, drive its own RTCP, and write RTP straight into the sending SRTP session.
aioice, in turn, never offers 127.0.0.1 as a host candidate and knows no port range or
announced address. The hooks below do all that per object (instance attributes, never
module-wide monkey patches), and `self_test()` checks every internal they touch so an
upgrade fails loudly at start-up instead of silently at the first call.

The versions these hooks were written against are pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
import select
import socket
import time
from importlib.metadata import version
from typing import Any, Awaitable, Callable

import aioice
import aioice.candidate
import aioice.ice
import aioice.stun
import aiortc
import pylibsrtp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtcpPacket

from ..clock import Clock
from . import icetcp, native_io, rtcp
from .errors import AdapterMismatch
from .native_io import batch_stats, native_in_use, use_native  # noqa: F401 (the adapter's API)

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"
PYLIBSRTP_VERSION = "1.0.0"  # comes with aiortc; its session internals are used for speed

# one UDP socket per peer connection (audio and video are bundled), so no STUN needed here
_RCVBUF_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class Network:
    """Where a peer connection binds and what it announces."""

    bind_ips: tuple[str, ...]
    announced_ip: str | None = None
    min_port: int = 0
    max_port: int = 0
    muxes: tuple["UdpMux", ...] = ()  # one shared socket per bind address; empty: a socket per connection
    ice_tcp: icetcp.IceTcpLimits | None = None  # with muxes: ICE-TCP on the same port numbers

    async def shared(self, port: int, clock: Any = None) -> "Network":
        """The same network with one UDP socket per bind address, shared by every connection.

        `port` 0 takes a free port from min_port..max_port (any port when no range is set).
        """
        muxes = []
        try:
            for address in self.bind_ips:
                muxes.append(await _open_shared(address, port, self, clock))
        except BaseException:
            for mux in muxes:
                mux.close()
            raise
        return dataclasses.replace(self, muxes=tuple(muxes))

    def close(self) -> None:
        for mux in self.muxes:
            mux.close()

    @classmethod
    def loopback(cls) -> "Network":
        return cls(bind_ips=("127.0.0.1",))

    @classmethod
    def from_settings(cls, media: Any) -> "Network":
        """Build from MediaSettings: loopback-only, explicit addresses, or every interface."""
        if media.loopback_only:
            ips: tuple[str, ...] = ("127.0.0.1",)
        elif media.listen_ips:
            ips = tuple(media.listen_ips)
        else:
            ips = tuple(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)) or (
                "127.0.0.1",
            )
        return cls(
            bind_ips=ips,
            announced_ip=media.announced_ip,
            min_port=media.rtc_min_port,
            max_port=media.rtc_max_port,
            ice_tcp=icetcp.IceTcpLimits.from_settings(media) if media.ice_tcp else None,
        )


@dataclasses.dataclass(frozen=True)
class ReceiveInfo:
    """What negotiation decided for one receiver: codecs, extensions, SSRCs."""

    kind: str
    mid: str | None
    codecs: list[Any]  # RTCRtpCodecParameters
    header_extensions: dict[str, int]  # uri -> id
    ssrcs: tuple[int, ...]
    rtx_ssrcs: dict[int, int]  # rtx ssrc -> media ssrc
    rtcp_ssrc: int


@dataclasses.dataclass(frozen=True)
class SendInfo:
    """What negotiation decided for one sender."""

    codecs: list[Any]
    header_extensions: dict[str, int]
    ssrc: int
    rtx_ssrc: int
    cname: str | None


# --- peer connections and ICE ------------------------------------------------------------


def new_peer_connection(network: Network) -> RTCPeerConnection:
    """A peer connection with no STUN server (aiortc defaults to a public one) and max-bundle."""
    pc = RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=aiortc.RTCBundlePolicy.MAX_BUNDLE)
    )
    pc._publicrooms_network = network  # type: ignore[attr-defined]
    return pc


def prepare_gathering(pc: RTCPeerConnection) -> None:
    """Make every ICE gatherer of `pc` bind where the network says; call before setLocalDescription."""
    network: Network = getattr(pc, "_publicrooms_network", Network.loopback())
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        if getattr(connection, "_publicrooms_gathering", False):
            continue
        connection._publicrooms_gathering = True
        connection.gather_candidates = _gatherer(connection, network)
        connection.query_consent = _consent_unless_closed(connection)


def _consent_unless_closed(connection: aioice.Connection) -> Callable[[], Awaitable[None]]:
    """aioice starts consent checks when connect() finishes, even if close() ran meanwhile.

    That task then loops forever on a closed connection (a leak per aborted connection),
    so a closed connection gets no consent checks at all.
    """
    original = connection.query_consent

    async def query_consent() -> None:
        if connection._closing:
            return
        await original()

    return query_consent


def _gatherer(connection: aioice.Connection, network: Network) -> Callable[[], Awaitable[None]]:
    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        loop = asyncio.get_running_loop()
        for component in sorted(connection._components):
            for index, address in enumerate(network.bind_ips):
                if network.muxes:
                    protocol = network.muxes[index].attach(connection)
                    transport = protocol.transport
                else:
                    transport, protocol = await _bind(loop, connection, address, network)
                sockname = transport.get_extra_info("sockname")
                host = network.announced_ip or sockname[0]
                protocol.local_candidate = aioice.Candidate(
                    foundation=aioice.candidate.candidate_foundation("host", "udp", host),
                    component=component,
                    transport="udp",
                    priority=aioice.candidate.candidate_priority(component, "host"),
                    host=host,
                    port=sockname[1],
                    type="host",
                )
                connection._protocols.append(protocol)
                connection._local_candidates.append(protocol.local_candidate)
                if network.muxes and network.muxes[index].tcp is not None:
                    _add_tcp_candidate(connection, network.muxes[index], component, host)
        connection._local_candidates_end = True

    return gather_candidates


async def _bind(
    loop: asyncio.AbstractEventLoop, connection: aioice.Connection, address: str, network: Network
) -> tuple[asyncio.DatagramTransport, aioice.ice.StunProtocol]:
    ports = [0]
    if network.min_port:
        ports = list(range(network.min_port, network.max_port + 1))
        random.shuffle(ports)
    last_error: OSError | None = None
    for port in ports:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            last_error = exc
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF_BYTES)
        return transport, protocol  # type: ignore[return-value]
    raise OSError(f"no free UDP port on {address} in {network.min_port}-{network.max_port}") from last_error


# --- one UDP port per worker: every connection's ICE, DTLS and media on one socket ----------


def _stun_username(data: bytes) -> str | None:
    """The USERNAME of a STUN binding request, or None for anything else."""
    if len(data) < 20 or data[0] != 0x00 or data[1] != 0x01:  # class request, method binding
        return None
    try:
        message = aioice.stun.parse_message(data)
    except ValueError:
        return None
    username = message.attributes.get("USERNAME")
    return username if isinstance(username, str) else None


class _MuxTransport(asyncio.DatagramTransport):
    """What one connection's StunProtocol sees as its transport: the worker's shared socket.

    Sending to an address claims it for this connection, so the answers to our own checks
    (which carry no USERNAME) come back to it.
    """

    def __init__(self, mux: "UdpMux", protocol: aioice.ice.StunProtocol) -> None:
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._closing = False

    def sendto(self, data: bytes, addr: Any = None) -> None:  # type: ignore[override]
        if self._closing:
            return
        self._mux.claim(addr, self._protocol)
        self._mux.sendto(data, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._mux.sock
        if name == "sockname":
            return self._mux.sockname
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux.detach(self._protocol)
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class UdpMux:
    """One UDP socket shared by all of a worker's connections (ICE-lite style port muxing).

    A datagram goes to the connection that owns its remote address; a STUN binding request
    (which every ICE agent sends first, and again for consent every few seconds) goes to the
    connection whose local ufrag opens its USERNAME, which owns the address from then on unless
    another connection already does (a forged request cannot take a live address). That is how
    mediasoup's WebRtcServer and LiveKit's UDP mux demultiplex one port. Every waiting datagram
    is read in one go (recvmmsg in the compiled path), and the media sent while handling them
    leaves in one sendmmsg per socket.
    """

    def __init__(self, sock: socket.socket, clock: Any = None) -> None:
        self.sock = sock
        self.sockname = sock.getsockname()
        self._fd = sock.fileno()
        # the system's clock is read in C (no call into Python per wake-up); an injected one is called
        wall_time = None if clock is None or type(clock).time is Clock.time else clock.time
        self._reader = native_io.SocketReader(self._fd, self._recv_python, wall_time, self._dispatch)
        self._by_ufrag: dict[str, aioice.ice.StunProtocol] = {}
        self._by_addr: dict[tuple[Any, ...], aioice.ice.StunProtocol] = {}
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._reader.callback)
        self.datagrams = 0
        self.dropped = 0
        self._logged = False
        self.tcp: icetcp.IceTcpListener | None = None  # ICE-TCP on the same port number

    @classmethod
    async def open(cls, address: str, port: int, min_port: int = 0, max_port: int = 0,
                   clock: Any = None) -> "UdpMux":
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        ports = [port]
        if not port and min_port:
            ports = list(range(min_port, max_port + 1))
            random.shuffle(ports)
        last_error: OSError | None = None
        for candidate in ports:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((address, candidate))
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF_BYTES * 4)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _RCVBUF_BYTES * 4)
            return cls(sock, clock)
        where = port or (f"{min_port}-{max_port}" if min_port else "any")
        raise OSError(f"cannot bind the media UDP port on {address} ({where}): {last_error}") from last_error

    @property
    def port(self) -> int:
        return int(self.sockname[1])

    def connections(self) -> int:
        """Connections attached (for leak checks)."""
        return len(self._by_ufrag)

    def attach(self, connection: aioice.Connection) -> aioice.ice.StunProtocol:
        """A StunProtocol for `connection` whose transport is this socket."""
        ufrag = connection.local_username
        if ufrag in self._by_ufrag:
            raise OSError("ICE username fragment already in use on this worker's port")
        protocol = aioice.ice.StunProtocol(connection)
        protocol.connection_made(_MuxTransport(self, protocol))
        self._by_ufrag[ufrag] = protocol
        return protocol

    def detach(self, protocol: aioice.ice.StunProtocol) -> None:
        self._reader.unroute_owner(protocol)
        for ufrag in [u for u, p in self._by_ufrag.items() if p is protocol]:
            del self._by_ufrag[ufrag]
        for addr in [a for a, p in self._by_addr.items() if p is protocol]:
            del self._by_addr[addr]

    def claim(self, addr: Any, protocol: aioice.ice.StunProtocol) -> None:
        key = (addr[0], addr[1])
        if key not in self._by_addr:
            self._by_addr[key] = protocol

    def sendto(self, data: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(data, (addr[0], addr[1]))
        except OSError:  # full buffer or unreachable: UDP, the sender's timers retry what matters
            self.dropped += 1

    def route(self, addr: Any, receiver: Any, protocol: aioice.ice.StunProtocol) -> None:
        """SRTP from `addr` (owned by `protocol`) is unprotected in C and given to `receiver`."""
        key = (addr[0], addr[1])
        if self._by_addr.get(key) is protocol:
            self._reader.route(key, receiver, protocol)

    def routes(self) -> int:
        """Addresses whose SRTP the compiled demultiplexer handles (for leak checks)."""
        return self._reader.routes()

    def handled(self) -> tuple[int, int]:
        """(datagrams the compiled demultiplexer took past Python's dispatch, of which forwarded in C)."""
        return self._reader.handled()

    def _recv_python(self) -> list[tuple[bytes, Any]]:
        batch = []
        for _ in range(64):
            try:
                batch.append(self.sock.recvfrom(2048))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # an ICMP error reported on the socket: nothing to read for it
                break
        return batch

    def _dispatch(self, batch: list[tuple[bytes, Any]]) -> None:
        by_addr = self._by_addr
        self.datagrams += len(batch)
        for data, key in batch:
            if len(key) != 2:  # IPv6 (host, port, flowinfo, scope): aioice uses (host, port)
                key = (key[0], key[1])
            protocol = by_addr.get(key)
            if data and data[0] == 0:
                username = _stun_username(data)
                if username is not None:
                    # answered by the connection it names (aioice checks its integrity); the
                    # address is that connection's unless another one already owns it
                    owner = self._by_ufrag.get(username.partition(":")[0])
                    if owner is not None:
                        if protocol is None:
                            by_addr[key] = owner
                        protocol = owner
            if protocol is None:
                self.dropped += 1
                continue
            try:
                protocol.datagram_received(data, key)
            except Exception:  # one connection's bad datagram must not stop the others
                self.dropped += 1
                if not self._logged:
                    self._logged = True
                    logger.exception("media datagram from %s failed (logged once per port)", key)

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        for protocol in list(self._by_ufrag.values()):
            protocol.transport.close()
        if self.tcp is not None:
            self.tcp.close()
        self._reader.close()
        self.sock.close()


# --- ICE over TCP on the shared port (the framing and its limits are in icetcp.py) --------


async def _open_shared(address: str, port: int, network: Network, clock: Any) -> UdpMux:
    """The UDP mux and, with ice_tcp, a TCP listener on the same port number.

    A free UDP port's TCP twin can be taken: then another free port is tried.
    """
    error: OSError | None = None
    for _ in range(1 if port else 16):
        mux = await UdpMux.open(address, port, network.min_port, network.max_port, clock)
        if network.ice_tcp is None:
            return mux
        try:
            mux.tcp = await icetcp.IceTcpListener.open(address, mux.port, network.ice_tcp, _tcp_owner(mux), clock)
            return mux
        except OSError as exc:
            mux.close()
            error = exc
    raise OSError(f"cannot listen for ICE over TCP on {address} port {port or 'any'}: {error}") from error


def _add_tcp_candidate(connection: aioice.Connection, mux: UdpMux, component: int, host: str) -> None:
    # RFC 6544 4.2: a passive host candidate ranks below the UDP one, so UDP wins where it works
    candidate = aioice.Candidate(
        foundation=aioice.candidate.candidate_foundation("host", "tcp", host),
        component=component,
        transport="tcp",
        priority=aioice.candidate.candidate_priority(component, "host", local_pref=(4 << 13) | 8191),
        host=host,
        port=mux.port,
        type="host",
        tcptype="passive",
    )
    if not hasattr(connection, "_publicrooms_tcp"):
        connection._publicrooms_tcp = {}
        connection.check_complete = _udp_first(connection)
    connection._publicrooms_tcp[id(mux)] = candidate
    connection._local_candidates.append(candidate)


def _udp_first(connection: aioice.Connection) -> Callable[[aioice.ice.CandidatePair], None]:
    """Where the server nominates (it offered), a TCP pair never replaces a nominated UDP one.

    aioice's controlling side nominates every pair that succeeds, the last one winning; a
    browser that can use UDP checks both, and its media would otherwise end up on TCP.
    """
    original = connection.check_complete

    def check_complete(pair: aioice.ice.CandidatePair) -> None:
        current = connection._nominated.get(pair.component)
        if (pair.nominated and connection.ice_controlling and current is not None
                and _over_tcp(pair) and not _over_tcp(current)):
            pair.nominated = False
        original(pair)

    return check_complete


def _over_tcp(pair: aioice.ice.CandidatePair) -> bool:
    return isinstance(pair.protocol.transport, icetcp.FramedStream)


def _tcp_owner(mux: UdpMux) -> icetcp.Authenticate:
    """Give a TCP stream to the connection that its first frame, an ICE check, authenticates to.

    The stream then is one more StunProtocol of that connection: aioice answers the check,
    checks back over the stream and, once the browser nominates it, carries DTLS and SRTP on it.
    """

    def authenticate(frame: bytes, stream: icetcp.FramedStream) -> bool:
        username = _stun_username(frame)
        owner = mux._by_ufrag.get(username.partition(":")[0]) if username else None
        if owner is None or owner.receiver._closing:
            return False
        connection = owner.receiver
        candidate = getattr(connection, "_publicrooms_tcp", {}).get(id(mux))
        key = connection.local_password.encode("utf8")
        if candidate is None or not aioice.stun.parse_message(frame).check_message_integrity(key):
            return False
        streams = sum(1 for p in connection._protocols if isinstance(p.transport, icetcp.FramedStream)
                      and not p.transport.is_closing())
        if streams >= stream.limits.max_streams_per_connection:
            return False
        protocol = aioice.ice.StunProtocol(connection)
        protocol.local_candidate = candidate
        protocol.connection_made(stream)  # type: ignore[arg-type]
        connection._protocols.append(protocol)
        stream.attach(protocol.datagram_received, protocol.connection_lost)
        protocol.datagram_received(frame, stream.peer)
        return True

    return authenticate


def transport_of(pc: RTCPeerConnection) -> RTCDtlsTransport | None:
    """The (bundled) DTLS transport of a peer connection."""
    transceivers = pc.getTransceivers()
    return transceivers[0].receiver.transport if transceivers else None


def udp_socket_count(pc: RTCPeerConnection) -> int:
    """Open UDP sockets of a peer connection (for leak checks)."""
    count = 0
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if id(connection) in seen:
            continue
        seen.add(id(connection))
        count += sum(1 for p in connection._protocols if not p.transport.is_closing())
    return count


def set_codec_preferences(transceiver: Any, mime_type: str) -> None:
    """Offer only `mime_type` (and its RTX) on a transceiver."""
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
    wanted = mime_type.lower()
    chosen = [c for c in capabilities.codecs if c.mimeType.lower() == wanted]
    if transceiver.kind == "video":
        chosen += [c for c in capabilities.codecs if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(chosen)


# --- receiving: the publisher's connection -----------------------------------------------


def negotiated_codecs(transceiver: Any) -> list[Any]:
    """Codecs agreed for a transceiver by the last setRemoteDescription (before DTLS is up)."""
    return list(transceiver._codecs)


def remote_sends(transceiver: Any) -> bool:
    """Whether the remote offer sends media on this transceiver (our side receives)."""
    return transceiver._offerDirection in ("recvonly", "sendrecv")

RtpSink = Callable[[bytes, int], None]


def hook_rtp_input(dtls: RTCDtlsTransport, sink: Callable[[bytes, int], None]) -> None:
    """Hand every decrypted RTP packet of `dtls` to `sink(data, arrival_time_ms)` as raw bytes.

    Replaces the transport's parse-and-route step, so aiortc never builds an RtpPacket and
    the receivers' jitter buffers and decoders never see media.
    """

    async def _handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        sink(data, arrival_time_ms)

    dtls._handle_rtp_data = _handle_rtp_data  # type: ignore[method-assign]


class _Probe:
    """The two attributes aiortc's RTP router reads from a packet."""

    __slots__ = ("ssrc", "payload_type")

    def __init__(self, ssrc: int, payload_type: int) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type


def route_rtp(dtls: RTCDtlsTransport, ssrc: int, payload_type: int) -> RTCRtpReceiver | None:
    """Which receiver aiortc's BUNDLE router assigns an unknown SSRC to (learns it too)."""
    return dtls._rtp_router.route_rtp(_Probe(ssrc, payload_type))


def hook_receiver(receiver: RTCRtpReceiver, on_receive: Callable[[ReceiveInfo], None]) -> None:
    """Replace the receiver's start: register it for routing, start no decoder and no RTCP task."""

    async def receive(parameters: Any) -> None:
        if getattr(receiver, "_publicrooms_started", False):
            return
        receiver._publicrooms_started = True
        receiver.transport._register_rtp_receiver(receiver, parameters)
        rtx: dict[int, int] = {}
        ssrcs = []
        for encoding in parameters.encodings:
            ssrcs.append(encoding.ssrc)
            if encoding.rtx:
                rtx[encoding.rtx.ssrc] = encoding.ssrc
        on_receive(
            ReceiveInfo(
                kind=receiver._RTCRtpReceiver__kind,
                mid=parameters.muxId,
                codecs=list(parameters.codecs),
                header_extensions={e.uri: e.id for e in parameters.headerExtensions},
                ssrcs=tuple(ssrcs),
                rtx_ssrcs=rtx,
                rtcp_ssrc=receiver._RTCRtpReceiver__rtcp_ssrc or 0,
            )
        )

    receiver.receive = receive  # type: ignore[method-assign]
    # The publisher's sender reports and BYEs feed aiortc's receiver statistics and its receiver
    # reports; neither runs here (Publisher sends its own reports), so they need no handling.
    receiver._publicrooms_rtcp = _ignore_rtcp


def _ignore_rtcp(packet: Any) -> None:
    pass


def unhook_receiver(receiver: RTCRtpReceiver) -> None:
    """Remove a hooked receiver from its transport's router."""
    if getattr(receiver, "_publicrooms_started", False):
        receiver.transport._unregister_rtp_receiver(receiver)
        receiver._publicrooms_started = False


async def send_rtcp(dtls: RTCDtlsTransport | None, data: bytes) -> None:
    """SRTCP-protect and send compound RTCP; silently dropped when not connected."""
    if dtls is None or dtls.state != "connected":
        return
    try:
        await dtls._send_rtp(data)
    except ConnectionError:
        pass


# --- sending: the subscriber's connection ------------------------------------------------


def set_sender_identity(sender: RTCRtpSender, *, ssrc: int, stream_id: str, track_id: str) -> None:
    """Choose the SSRC and msid a sender announces; call before the first offer."""
    sender._ssrc = ssrc
    sender._stream_id = stream_id
    sender._track_id = track_id


def hook_sender(
    sender: RTCRtpSender,
    *,
    on_start: Callable[[SendInfo], None],
    rtcp_loop: Callable[[], Awaitable[None]],
    on_rtcp: Callable[[Any], None],
    on_stop: Callable[[], Awaitable[None]],
) -> None:
    """Take over a sender: no encoder, no RTP loop; our RTCP loop and RTCP feedback handler.

    aiortc starts `_run_rtp`/`_run_rtcp` from `send()` once DTLS is up and cancels them in
    `stop()`, waiting on four private events; the replacements keep that contract.
    """
    started_rtp = sender._RTCRtpSender__rtp_started
    exited_rtp = sender._RTCRtpSender__rtp_exited
    started_rtcp = sender._RTCRtpSender__rtcp_started
    exited_rtcp = sender._RTCRtpSender__rtcp_exited
    original_send = sender.send

    async def send(parameters: Any) -> None:
        if getattr(sender, "_publicrooms_started", False):
            return
        sender._publicrooms_started = True
        sender._publicrooms_parameters = parameters
        await original_send(parameters)

    async def _run_rtp(codec: Any) -> None:
        started_rtp.set()
        parameters = sender._publicrooms_parameters
        try:
            on_start(
                SendInfo(
                    codecs=list(parameters.codecs),
                    header_extensions={e.uri: e.id for e in parameters.headerExtensions},
                    ssrc=sender._ssrc,
                    rtx_ssrc=sender._rtx_ssrc,
                    cname=parameters.rtcp.cname,
                )
            )
            await asyncio.get_running_loop().create_future()  # until cancelled by stop()
        except asyncio.CancelledError:
            pass
        finally:
            await on_stop()
            exited_rtp.set()

    async def _run_rtcp() -> None:
        started_rtcp.set()
        try:
            await rtcp_loop()
        except asyncio.CancelledError:
            pass
        finally:
            exited_rtcp.set()

    sender.send = send  # type: ignore[method-assign]
    sender._run_rtp = _run_rtp  # type: ignore[method-assign]
    sender._run_rtcp = _run_rtcp  # type: ignore[method-assign]
    async def handle_rtcp_packet(packet: Any) -> None:  # the RTCP aiortc's own reader still routes
        on_rtcp(packet)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
    sender._publicrooms_rtcp = on_rtcp  # the RTCP taken straight from the socket (_rtcp_now)


class FastPath:
    """SRTP protect and UDP send for one DTLS transport, bypassing aiortc's async send path.

    `send(packet, payload_type)` protects and sends one RTP packet (patching the payload type
    when it is >= 0) and returns whether it went out. With the compiled extension that is one
    C call (copy, libsrtp, `sendto` on the connection's socket); without it, or for a
    TURN-relayed pair, the same steps in Python.
    """

    __slots__ = ("send", "_dtls", "_connection", "_pair", "_native", "_protect")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._connection = dtls.transport._connection
        self._pair = None
        session = dtls._tx_srtp
        self._native = native_sender(session)
        self._protect: Callable[[bytes], bytes] = srtp_protector(session)
        self.send: Callable[[bytes, int], bool] = discard_send
        self.refresh()

    @property
    def native(self) -> bool:
        return self._native is not None and self.send == self._native.send

    @property
    def compiled(self) -> Any:
        """The compiled Sender when `send` is its send, else None."""
        return self._native if self.native else None

    def refresh(self) -> bool:
        """Re-read the nominated candidate pair (it can change); False when not connected."""
        pair = self._connection._nominated.get(1) if self._dtls.state == "connected" else None
        if pair is None:
            self._pair = None
            self.send = discard_send
            if self._native is not None:
                self._native.target(-1)
            return False
        if pair is not self._pair:
            self._pair = pair
            protocol = pair.protocol
            if type(protocol) is aioice.ice.StunProtocol:
                sendto = protocol.transport.sendto
                if self._native is not None and _target_native(self._native, protocol.transport, pair.remote_addr):
                    self.send = self._native.send
                    return True
            else:  # TURN-relayed: the protocol wraps data itself, asynchronously
                sendto = _scheduled(protocol.send_data)
            self.send = python_sender(self._protect, sendto, pair.remote_addr)
        return True


def _target_native(sender: Any, transport: asyncio.DatagramTransport, addr: Any) -> bool:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        sender.target(sock.fileno(), addr[0], addr[1])
    except (ValueError, TypeError, OSError):
        return False  # not a numeric address: the Python path resolves it
    return True


def python_sender(
    protect: Callable[[bytes], bytes], sendto: Callable[[bytes, Any], None], addr: Any
) -> Callable[[bytes, int], bool]:
    """The pure-Python `send(packet, payload_type)`: what the compiled Sender does, via cffi."""

    def send(packet: bytes, payload_type: int = -1) -> bool:
        if payload_type >= 0:
            patched = bytearray(packet)
            patched[1] = (patched[1] & 0x80) | payload_type
            packet = bytes(patched)
        sendto(protect(packet), addr)
        return True

    return send


def discard_send(packet: bytes, payload_type: int = -1) -> bool:
    return False


# --- the compiled hot path (publicrooms.media._fastpath), with the Python path as fallback ---

def _address(cdata: Any) -> int:
    return int(_srtp_ffi.cast("uintptr_t", cdata))


def native_sender(session: pylibsrtp.Session) -> Any:
    """A compiled Sender on the session's libsrtp context, or None on the Python path."""
    if not native_io.native_in_use():
        return None
    return native_io.module.Sender(_address(_srtp_lib.srtp_protect), _address(session._srtp[0]), session)


def srtp_unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`unprotect(data)` -> plain RTP, or None when the packet fails authentication."""
    if native_io.native_in_use():
        return native_io.module.Unprotector(  # type: ignore[no-any-return]
            _address(_srtp_lib.srtp_unprotect), _address(session._srtp[0]), session
        )
    unprotect = session.unprotect
    errors = (pylibsrtp.Error, ValueError)  # ValueError: longer than pylibsrtp's buffer

    def unprotect_rtp(data: bytes) -> bytes | None:
        try:
            return unprotect(data)
        except errors:
            return None

    return unprotect_rtp


def srtp_protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """`session.protect` without pylibsrtp's per-call allocations and checks (~2.5 µs saved).

    Same C call into the same libsrtp session as aiortc's own send path, so the two can be
    mixed (RTCP still goes through aiortc). Raises pylibsrtp.Error on failure like the original.
    """
    srtp = session._srtp[0]
    cdata = session._cdata
    buffer = session._buffer
    length = _srtp_ffi.new("int *")
    limit = len(cdata) - pylibsrtp.SRTP_MAX_TRAILER_LEN
    protect = _srtp_lib.srtp_protect

    def protect_rtp(packet: bytes, _keep_alive: pylibsrtp.Session = session) -> bytes:
        # the default argument pins the session: libsrtp memory is freed with it
        size = len(packet)
        if size > limit:
            raise pylibsrtp.Error("packet is too long")
        buffer[0:size] = packet
        length[0] = size
        status = protect(srtp, cdata, length)
        if status:
            raise pylibsrtp.Error(f"srtp_protect failed: {status}")
        return buffer[0 : length[0]]

    return protect_rtp


def hook_datagrams(pc: RTCPeerConnection, sink: RtpSink | None = None,
                   now_ms: Callable[[], int] | None = None) -> Any:
    """Take SRTP and SRTCP of `pc` straight from its UDP sockets, decrypted.

    aioice queues every datagram and wakes the DTLS transport's reader task for it; for
    media that hop costs more than the forwarding itself. RTP goes to `sink` (a publisher's
    connection; a subscriber's passes None), RTCP to its recipients in the same turn
    (`_rtcp_now`); STUN and DTLS still take aiortc's path. Call after setLocalDescription (the
    sockets exist then). Returns the compiled Receiver the shared port's SRTP goes to (for
    UpForwards to track), or None.
    """
    dtls = transport_of(pc)
    if dtls is None:
        return None
    connection = dtls.transport._connection
    receiver = native_io.receiver(sink) if sink is not None else None  # the compiled demultiplexer's end
    for protocol in connection._protocols:
        if getattr(protocol, "_publicrooms_fast", False):
            continue
        protocol._publicrooms_fast = True
        transport = protocol.transport
        mux = transport._mux if isinstance(transport, _MuxTransport) else None
        protocol.datagram_received = _fast_datagrams(
            protocol.datagram_received, dtls, sink, now_ms, (mux, receiver, protocol) if mux else None
        )
    return receiver


def _fast_datagrams(
    original: Callable[[bytes, Any], None],
    dtls: RTCDtlsTransport,
    sink: RtpSink | None,
    now_ms: Callable[[], int] | None,
    shared: tuple["UdpMux", Any, aioice.ice.StunProtocol] | None,
) -> Callable[[bytes, Any], None]:
    """The connection's datagram_received with SRTP taken straight to `sink`, SRTCP to `_rtcp_now`.

    On a shared port with the compiled demultiplexer, the first SRTP packet from an address
    routes that address to the connection's Receiver: the next ones never reach Python.
    """
    connected = DtlsState.CONNECTED
    current: list[Any] = [None, None]  # the receiving session and its unprotector

    def datagram_received(data: bytes, addr: Any) -> None:
        if data and 127 < data[0] < 192 and len(data) >= 8:
            second = data[1]
            if 191 < second < 209:  # SRTCP (aiortc's is_rtcp: packet types 192-208)
                if dtls._rx_srtp is not None and dtls._state is connected:
                    _rtcp_now(dtls, data)
                    return
            # RTP, not RTCP (payload types 64-95 are RTCP's packet types 192-223)
            elif sink is not None and len(data) > 12 and not 191 < second < 224:
                session = dtls._rx_srtp
                if session is not None and dtls._state is connected:
                    if session is not current[0]:
                        current[0], current[1] = session, srtp_unprotector(session)
                        if shared is not None and shared[1] is not None:
                            shared[1].session(_address(_srtp_lib.srtp_unprotect), _address(session._srtp[0]),
                                              session)
                    if shared is not None and shared[1] is not None and native_io.native_in_use():
                        shared[0].route(addr, shared[1], shared[2])
                    plain = current[1](data)
                    if plain is not None:
                        sink(plain, now_ms())  # type: ignore[misc]
                    return
        original(data, addr)

    return datagram_received


_rtcp_counts = [0, 0]  # RTCP datagrams taken straight from the socket, of which refused


def rtcp_stats() -> tuple[int, int]:
    """(SRTCP datagrams handled in the socket's turn in this process, of which refused)."""
    return _rtcp_counts[0], _rtcp_counts[1]


def _rtcp_now(dtls: RTCDtlsTransport, data: bytes) -> None:
    """Unprotect SRTCP and hand each packet to its recipients in this turn.

    aiortc's reader would take it through aioice's queue and a wake-up of the transport's task
    first, twice as many turns of the event loop for every report. Our senders and hooked
    receivers take RTCP synchronously (`_publicrooms_rtcp`); any other recipient gets aiortc's
    coroutine as a task, as the reader would run it.
    """
    _rtcp_counts[0] += 1
    try:
        packets = RtcpPacket.parse(dtls._rx_srtp.unprotect_rtcp(data))
    except (pylibsrtp.Error, ValueError):  # forged, replayed or malformed: dropped, as aiortc does
        _rtcp_counts[1] += 1
        return
    for packet in packets:
        for recipient in dtls._rtp_router.route_rtcp(packet):
            handle = getattr(recipient, "_publicrooms_rtcp", None)
            if handle is None:
                asyncio.ensure_future(recipient._handle_rtcp_packet(packet))
                continue
            try:
                handle(packet)
            except Exception:  # one bad report must not end the socket's reading
                _rtcp_counts[1] += 1
                logger.exception("RTCP handling failed")


def _scheduled(send_data: Callable[[bytes, Any], Awaitable[None]]) -> Callable[[bytes, Any], None]:
    def sendto(data: bytes, addr: Any) -> None:
        asyncio.ensure_future(send_data(data, addr))

    return sendto


def fast_path(dtls: RTCDtlsTransport | None) -> FastPath | None:
    """Fast send path for a connected transport, or None."""
    if dtls is None or dtls.state != "connected" or dtls._tx_srtp is None:
        return None
    return FastPath(dtls)


# --- start-up self-test ------------------------------------------------------------------


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise AdapterMismatch(f"aiortc/aioice internal changed: {what}")


def _params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _self_test_policy() -> pylibsrtp.Policy:
    policy = pylibsrtp.Policy(
        key=bytes(range(30)),
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    )
    policy.allow_repeat_tx = True
    return policy


def _native_self_test(packet: bytes) -> None:
    """The compiled path protects like libsrtp via cffi, sends on a real socket, unprotects."""
    sender = native_sender(pylibsrtp.Session(_self_test_policy()))
    twin = pylibsrtp.Session(_self_test_policy())
    _require(sender.protect(packet) == twin.protect(packet), "compiled SRTP protect")
    inbound = pylibsrtp.Policy(key=bytes(range(30)), ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND,
                               srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    unprotect = srtp_unprotector(pylibsrtp.Session(inbound))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        out.bind(("127.0.0.1", 0))
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2.0)
        sender.target(out.fileno(), "127.0.0.1", sink.getsockname()[1])
        marked = packet[:1] + bytes([packet[1] | 0x80]) + packet[2:3] + bytes([packet[3] + 1]) + packet[4:]
        _require(sender.send(marked, 100) is True, "compiled send")
        received = sink.recv(2048)
    plain = unprotect(received)
    expected = marked[:1] + bytes([0x80 | 100]) + marked[2:]
    _require(plain == expected, "compiled send: payload type patch, SRTP round trip")
    _require(unprotect(received) is None, "compiled unprotect refuses a replay")
    # batched: queued between begin() and end(), sent by end() with one sendmmsg
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        out.bind(("127.0.0.1", 0))
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sender.target(out.fileno(), "127.0.0.1", sink.getsockname()[1])
        calls = native_io.module.batch_stats()[0]
        native_io.module.begin()
        try:
            _require(sender.send(packet) is True and sender.send(packet) is True, "compiled batched send")
            _require(native_io.module.recv_batch(sink.fileno()) == [], "compiled batch waits for end()")
        finally:
            sent = native_io.module.end()
        _require(sent == 2 and native_io.module.batch_stats()[0] == calls + 1, "compiled sendmmsg batch")
        received_batch = native_io.module.recv_batch(sink.fileno())
        _require([len(data) for data, _ in received_batch] == [len(received)] * 2
                 and received_batch[0][1] == out.getsockname(), "compiled recvmmsg batch")
    sender.target(-1)
    _require(sender.send(packet) is False, "compiled send after target(-1)")
    _demux_self_test(packet, inbound)


def _demux_self_test(packet: bytes, inbound: pylibsrtp.Policy) -> None:
    """The compiled demultiplexer unprotects routed SRTP into its sink and returns the rest."""
    session = pylibsrtp.Session(inbound)
    got: list[tuple[bytes, int]] = []
    receiver = native_io.module.Receiver(lambda data, arrival: got.append((data, arrival)))
    receiver.session(_address(_srtp_lib.srtp_unprotect), _address(session._srtp[0]), session)
    protect = pylibsrtp.Session(_self_test_policy()).protect
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        shared.bind(("127.0.0.1", 0))
        peer.bind(("127.0.0.1", 0))
        demux = native_io.module.Demux(shared.fileno())
        try:
            demux.route("127.0.0.1", peer.getsockname()[1], receiver)
            stun = b"\x00\x01\x00\x00" + bytes(16)
            for data in (protect(packet), stun, protect(packet[:3] + bytes([packet[3] + 1]) + packet[4:])):
                peer.sendto(data, shared.getsockname())
            rest: list[tuple[bytes, Any]] = []
            deadline = time.monotonic() + 2.0
            while len(got) + len(rest) < 3 and time.monotonic() < deadline:
                select.select([shared], [], [], 0.1)
                rest += demux.read(7)
            _require([a for _, a in got] == [7, 7] and got[0][0] == packet, "compiled demux: SRTP to its receiver")
            _require(rest == [(stun, peer.getsockname())], "compiled demux: other datagrams to Python")
            _require(demux.unroute("127.0.0.1", peer.getsockname()[1]) is True, "compiled demux: unroute")
            peer.sendto(protect(packet[:3] + bytes([packet[3] + 2]) + packet[4:]), shared.getsockname())
            select.select([shared], [], [], 2.0)
            _require(len(demux.read(7)) == 1 and len(got) == 2, "compiled demux: unrouted SRTP to Python")
        finally:
            demux.close()
    _forward_self_test(packet, inbound)


def _forward_self_test(packet: bytes, inbound: pylibsrtp.Policy) -> None:
    """The compiled up track forward: next packet rewritten, kept, protected and sent from poll()."""
    rx = pylibsrtp.Session(inbound)
    receiver = native_io.module.Receiver(lambda data, arrival: None)
    receiver.session(_address(_srtp_lib.srtp_unprotect), _address(rx._srtp[0]), rx)
    sender = native_sender(pylibsrtp.Session(_self_test_policy()))
    forward = native_io.module.UpForward(32)
    ssrc = int.from_bytes(packet[8:12], "big")
    _require(receiver.track(ssrc, forward) is True, "compiled forward: track")
    forward.extensions(bytes(16), 0)
    seq = int.from_bytes(packet[2:4], "big")
    protect = pylibsrtp.Session(_self_test_policy()).protect
    dispatched: list[Any] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as shared, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as subscriber:
        for sock in (shared, peer, subscriber):
            sock.bind(("127.0.0.1", 0))
        subscriber.settimeout(2.0)
        demux = native_io.module.Demux(shared.fileno(), lambda: 1.5, dispatched.extend)
        try:
            demux.route("127.0.0.1", peer.getsockname()[1], receiver)
            sender.target(shared.fileno(), *subscriber.getsockname())
            # in_seq = seq - 1: the packet is the next one; +10 seq, +1000 ts, new SSRC, pt 100
            forward.set(True, ssrc, packet[1] & 0x7F, seq - 1, 10, 1000, 0x01020304, 100,
                        (native_io.module.DownForward(sender, -1),))
            peer.sendto(protect(packet), shared.getsockname())
            select.select([shared], [], [], 2.0)
            demux.poll()
            sent = subscriber.recv(2048)
        finally:
            demux.close()
    out_seq = (seq + 10) & 0xFFFF
    ts = (int.from_bytes(packet[4:8], "big") + 1000) & 0xFFFFFFFF
    expected = (bytes([packet[0], (packet[1] & 0x80) | 100]) + out_seq.to_bytes(2, "big") + ts.to_bytes(4, "big")
                + (0x01020304).to_bytes(4, "big") + packet[12:])
    twin = pylibsrtp.Session(_self_test_policy())
    _require(sent == twin.protect(expected), "compiled forward: rewrite, protect, send")
    _require(forward.packet(out_seq) == expected and dispatched == [], "compiled forward: one history")
    pulled = forward.pull()
    _require(pulled is not None and pulled[:2] == (seq, out_seq) and pulled[4] == 1, "compiled forward: counts")
    forward.clear()


async def self_test() -> None:
    """Fail loudly (AdapterMismatch) if an internal the SFU hooks has moved."""
    try:
        await _self_test()
    except AdapterMismatch:
        raise
    except Exception as exc:  # an attribute lookup or call inside aiortc/aioice blew up
        raise AdapterMismatch(f"aiortc/aioice internal changed: {type(exc).__name__}: {exc}") from exc


async def _self_test() -> None:
    _require(version("aiortc") == AIORTC_VERSION, f"aiortc {version('aiortc')} != {AIORTC_VERSION}")
    _require(version("aioice") == AIOICE_VERSION, f"aioice {version('aioice')} != {AIOICE_VERSION}")
    _require(version("pylibsrtp") == PYLIBSRTP_VERSION, f"pylibsrtp {version('pylibsrtp')} != {PYLIBSRTP_VERSION}")
    _require(hasattr(_srtp_lib, "srtp_protect"), "libsrtp srtp_protect binding")
    _require(hasattr(aioice.ice, "StunProtocol"), "aioice.ice.StunProtocol")
    _require(hasattr(aioice.ice, "get_host_addresses"), "aioice.ice.get_host_addresses")
    _require(
        _params(aioice.candidate.candidate_foundation)[:3]
        == ["candidate_type", "candidate_transport", "base_address"],
        "aioice.candidate.candidate_foundation signature",
    )
    _require(_params(RTCDtlsTransport._handle_rtp_data) == ["self", "data", "arrival_time_ms"],
             "RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms)")
    _require(_params(RTCDtlsTransport._send_rtp) == ["self", "data"], "RTCDtlsTransport._send_rtp(data)")
    _require(_params(RTCRtpSender._run_rtp) == ["self", "codec"], "RTCRtpSender._run_rtp(codec)")
    _require(_params(RTCRtpSender._run_rtcp) == ["self"], "RTCRtpSender._run_rtcp()")
    _require(_params(RTCRtpSender._handle_rtcp_packet) == ["self", "packet"],
             "RTCRtpSender._handle_rtcp_packet(packet)")
    _require(_params(RTCRtpReceiver.receive) == ["self", "parameters"], "RTCRtpReceiver.receive(parameters)")

    pc = new_peer_connection(Network.loopback())
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        sender, receiver = transceiver.sender, transceiver.receiver
        _require(hasattr(transceiver, "_offerDirection"), "RTCRtpTransceiver._offerDirection")
        _require(hasattr(transceiver, "_codecs"), "RTCRtpTransceiver._codecs")
        for name in ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited"):
            _require(isinstance(getattr(sender, f"_RTCRtpSender__{name}", None), asyncio.Event),
                     f"RTCRtpSender.__{name}")
        for name in ("_ssrc", "_rtx_ssrc", "_stream_id", "_track_id"):
            _require(hasattr(sender, name), f"RTCRtpSender.{name}")
        _require(hasattr(receiver, "_RTCRtpReceiver__rtcp_ssrc"), "RTCRtpReceiver.__rtcp_ssrc")
        _require(receiver._RTCRtpReceiver__kind == "video", "RTCRtpReceiver.__kind")
        dtls = receiver.transport
        for name in ("_rtp_router", "_tx_srtp", "_rx_srtp", "_register_rtp_receiver",
                     "_unregister_rtp_receiver"):
            _require(hasattr(dtls, name), f"RTCDtlsTransport.{name}")
        _require(hasattr(dtls._rtp_router, "route_rtp"), "RtpRouter.route_rtp")
        _require(_params(dtls._rtp_router.route_rtcp) == ["packet"], "RtpRouter.route_rtcp(packet)")
        _require(_params(pylibsrtp.Session.unprotect_rtcp) == ["self", "packet"], "Session.unprotect_rtcp(packet)")
        _require([type(p).__name__ for p in RtcpPacket.parse(rtcp.receiver_report(1, 2, 3, 0, 0))] == ["RtcpRrPacket"],
                 "RtcpPacket.parse(receiver report)")
        _require(route_rtp(dtls, 1234, 96) is None, "RtpRouter.route_rtp(probe)")
        _require(getattr(dtls, "_state", None) is DtlsState.NEW, "RTCDtlsTransport._state")
        _require(DtlsState.CONNECTED.name == "CONNECTED", "RTCDtlsTransport State.CONNECTED")
        session = pylibsrtp.Session(_self_test_policy())
        _require(all(hasattr(session, n) for n in ("_srtp", "_cdata", "_buffer")), "pylibsrtp.Session internals")
        packet = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + b"payload"
        twin = pylibsrtp.Session(_self_test_policy())
        _require(srtp_protector(session)(packet) == twin.protect(packet), "fast SRTP protect")
        if native_io.native_in_use():
            _native_self_test(packet)
        connection = dtls.transport.iceGatherer._connection
        _require(dtls.transport._connection is connection, "RTCIceTransport._connection")
        for name in ("_local_candidates_start", "_local_candidates_end", "_local_candidates",
                     "_protocols", "_components", "_nominated", "_closing", "query_consent"):
            _require(hasattr(connection, name), f"aioice.Connection.{name}")
        _require(_params(aioice.ice.StunProtocol.send_data) == ["self", "data", "addr"],
                 "StunProtocol.send_data(data, addr)")
        # the loopback gatherer really binds and produces a host candidate
        prepare_gathering(pc)
        await connection.gather_candidates()
        candidates = connection.local_candidates
        _require(len(candidates) == 1 and candidates[0].host == "127.0.0.1", "loopback gathering")
    finally:
        await pc.close()
    await _mux_self_test()


async def _mux_self_test() -> None:
    """ICE, then data, between a connection on a shared port and a plain one, over loopback."""
    _require(_params(aioice.Connection.add_remote_candidate) == ["self", "remote_candidate"],
             "aioice.Connection.add_remote_candidate(candidate)")
    _require(_params(aioice.ice.StunProtocol.datagram_received) == ["self", "data", "addr"],
             "StunProtocol.datagram_received(data, addr)")
    mux = await _open_shared("127.0.0.1", 0, dataclasses.replace(Network.loopback(), ice_tcp=icetcp.IceTcpLimits()), None)
    shared = dataclasses.replace(Network.loopback(), muxes=(mux,))
    server = aioice.Connection(ice_controlling=False)
    client = aioice.Connection(ice_controlling=True)
    try:
        server.gather_candidates = _gatherer(server, shared)  # type: ignore[method-assign]
        client.gather_candidates = _gatherer(client, Network.loopback())  # type: ignore[method-assign]
        await server.gather_candidates()
        await client.gather_candidates()
        _require([(c.transport, c.port) for c in server.local_candidates] == [("udp", mux.port), ("tcp", mux.port)],
                 "shared-port UDP and TCP candidates")
        _require(mux.connections() == 1, "shared-port attach")
        for near, far in ((server, client), (client, server)):
            near.remote_username, near.remote_password = far.local_username, far.local_password
            for candidate in far.local_candidates:
                await near.add_remote_candidate(candidate)
            await near.add_remote_candidate(None)
        await asyncio.wait_for(asyncio.gather(server.connect(), client.connect()), 5.0)
        await client.send(b"\x80publicrooms")
        _require(await asyncio.wait_for(server.recv(), 2.0) == b"\x80publicrooms", "shared-port data in")
        await server.send(b"\x80back")
        _require(await asyncio.wait_for(client.recv(), 2.0) == b"\x80back", "shared-port data out")
        local, remote = (client.local_username, client.local_password), (server.local_username, server.local_password)
        _require(await icetcp.probe(mux.port, local, remote), "ICE check over TCP on the shared port")
    finally:
        await server.close()
        await client.close()
        connections = mux.connections()
        mux.close()
    _require(connections == 0, "shared-port detach on close")

