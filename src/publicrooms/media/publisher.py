"""Publisher: a participant's publish connection (the client offers, the server answers)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiortc import RTCSessionDescription

from ..clock import Clock
from . import aiortc_adapter as adapter
from . import rtcp
from .errors import InvalidSdp
from .reports import next_boundary_s
from .settings import MediaSettings
from .stats import Counters
from .uptrack import UpTrack

logger = logging.getLogger(__name__)

MAX_SDP_BYTES = 32 * 1024
MAX_PUBLISHED_SECTIONS = 4  # a camera and a microphone, with room for a screen share later


def check_sdp(sdp: str, max_sections: int = MAX_PUBLISHED_SECTIONS) -> None:
    """Refuse SDP that is oversized or asks the server for many media sections."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise InvalidSdp("not an SDP session description")
    if len(sdp) > MAX_SDP_BYTES:
        raise InvalidSdp(f"SDP larger than {MAX_SDP_BYTES} bytes")
    if sdp.count("\nm=") > max_sections:
        raise InvalidSdp(f"more than {max_sections} media sections")


class Publisher:
    """Receives a participant's audio/video; raw RTP goes straight to the up tracks."""

    def __init__(
        self,
        participant_id: str,
        *,
        network: adapter.Network,
        clock: Clock,
        settings: MediaSettings,
        counters: Counters,
        on_failed: Callable[["Publisher"], None],
    ) -> None:
        self.participant_id = participant_id
        self._clock = clock
        self._settings = settings
        self._counters = counters
        self._on_failed = on_failed
        self.pc = adapter.new_peer_connection(network)
        counters.peer_connections_opened += 1
        self._by_ssrc: dict[int, UpTrack] = {}
        self._by_receiver: dict[Any, UpTrack] = {}
        self._rtcp_ssrc: dict[UpTrack, int] = {}
        self._uptracks: list[UpTrack] = []
        self._receivers: list[Any] = []
        self._rtcp_task: asyncio.Task[None] | None = None
        self._dtls: Any = None
        self._receiver: Any = None  # compiled: where the shared port's SRTP for us is unprotected
        self._tracked: set[int] = set()  # SSRCs whose steady state the receiver forwards in C
        self.closed = False

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.pc.connectionState in ("failed", "closed") and not self.closed:
                self._on_failed(self)

    async def accept_offer(self, offer_sdp: str) -> list[str]:
        """Apply the client's offer; returns the kinds it sends (first track of each kind)."""
        check_sdp(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc raises ValueError/OperationError/InternalError
            raise InvalidSdp(f"cannot apply publish offer: {exc}") from exc
        kinds: list[str] = []
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            self._receivers.append(receiver)
            adapter.hook_receiver(receiver, self._receive_callback(receiver))
            if adapter.remote_sends(transceiver) and transceiver.kind not in kinds:
                kinds.append(transceiver.kind)
        self._dtls = adapter.transport_of(self.pc)
        if self._dtls is not None:
            adapter.hook_rtp_input(self._dtls, self._on_rtp)
        return kinds

    def bind(self, uptrack: UpTrack) -> None:
        """Feed the first receiver of `uptrack.kind` into it."""
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == uptrack.kind and transceiver.receiver not in self._by_receiver:
                self._by_receiver[transceiver.receiver] = uptrack
                self._uptracks.append(uptrack)
                uptrack.preconfigure(adapter.negotiated_codecs(transceiver))
                uptrack.attach_source(self._send_pli, self._send_nack)
                return

    async def answer(self) -> str:
        answer = await self.pc.createAnswer()
        adapter.prepare_gathering(self.pc)
        await self.pc.setLocalDescription(answer)
        self._receiver = adapter.hook_datagrams(self.pc, self._on_rtp, self._now_ms)
        self._rtcp_task = asyncio.ensure_future(self._rtcp_loop())
        return self.pc.localDescription.sdp

    def _receive_callback(self, receiver: Any) -> Callable[[adapter.ReceiveInfo], None]:
        def on_receive(info: adapter.ReceiveInfo) -> None:
            uptrack = self._by_receiver.get(receiver)
            if uptrack is None:
                return  # an extra track of a kind we already take: ignored
            uptrack.configure(info)
            self._rtcp_ssrc[uptrack] = info.rtcp_ssrc
            for ssrc in info.ssrcs:
                self._by_ssrc[ssrc] = uptrack
            for ssrc in info.rtx_ssrcs:
                self._by_ssrc[ssrc] = uptrack

        return on_receive

    def _now_ms(self) -> int:
        return rtcp.ntp_ms_from_unix(self._clock.time())

    def _on_rtp(self, data: bytes, arrival_ms: int) -> None:
        if len(data) < 12:
            return
        ssrc = (data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]
        uptrack = self._by_ssrc.get(ssrc)
        if uptrack is None:
            # not signalled in the SDP: let aiortc's BUNDLE router pick by payload type
            receiver = adapter.route_rtp(self._dtls, ssrc, data[1] & 0x7F)
            uptrack = self._by_receiver.get(receiver)
            if uptrack is None:
                return
            self._by_ssrc[ssrc] = uptrack
        uptrack.on_rtp(data, arrival_ms)
        if self._receiver is not None and ssrc not in self._tracked and uptrack.forward is not None \
                and uptrack.media_ssrc == ssrc and not self.closed:
            # the up track's steady state for this SSRC can now be forwarded in C
            if self._receiver.track(ssrc, uptrack.forward):
                self._tracked.add(ssrc)

    # --- feedback to the publisher ------------------------------------------------------------

    def _sender_ssrc(self) -> int:
        return next(iter(self._rtcp_ssrc.values()), 1) or 1

    def _send_pli(self, media_ssrc: int) -> None:
        self._send(rtcp.pli(self._sender_ssrc(), media_ssrc))

    def _send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        self._send(rtcp.nack(self._sender_ssrc(), media_ssrc, lost))

    def _send(self, data: bytes) -> None:
        if not self.closed:
            asyncio.ensure_future(adapter.send_rtcp(self._dtls, data))

    async def _rtcp_loop(self) -> None:
        """Receiver reports, outstanding NACKs and the REMB bitrate cap, once per interval."""
        settings = self._settings
        try:
            while not self.closed:
                # on the period's boundaries, the same turn as the worker's sender reports
                await self._clock.sleep(next_boundary_s(self._clock.time(), settings.rtcp_interval_s))
                sender = self._sender_ssrc()
                data = b""
                # one REMB for the whole connection: browsers treat it as the total estimate
                cap, ssrcs = 0, []
                for uptrack in self._uptracks:
                    uptrack.sync()
                    ssrc = uptrack.media_ssrc
                    if ssrc is None:
                        continue
                    data += rtcp.receiver_report(sender, ssrc, uptrack.highest_seq, len(uptrack.missing), 0)
                    cap += settings.max_bitrate_bps if uptrack.kind == "video" else settings.audio_bitrate_bps
                    ssrcs.append(ssrc)
                    if uptrack.missing and uptrack.kind == "video":
                        data += rtcp.nack(sender, ssrc, sorted(uptrack.missing)[:64])
                if ssrcs:
                    data += rtcp.remb(sender, cap, ssrcs)
                if data:
                    await adapter.send_rtcp(self._dtls, data)
        except asyncio.CancelledError:
            pass

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
            try:
                await self._rtcp_task
            except asyncio.CancelledError:
                pass
        if self._receiver is not None:
            self._receiver.untrack_all()
            self._tracked.clear()
        for uptrack in self._uptracks:
            uptrack.detach_source()
        for receiver in self._receivers:
            adapter.unhook_receiver(receiver)
        await self.pc.close()
        self._counters.peer_connections_closed += 1

    def udp_sockets(self) -> int:
        return adapter.udp_socket_count(self.pc)

