"""DownTrack: one up track as sent to one subscriber.

The hot path (`write`) gets header bytes the up track already rewrote (and keeps for NACKs,
once for all its down tracks) and hands them to its send path, which patches the payload
type when this subscriber negotiated a different one, SRTP-protects it with the subscriber's
session and sends it (one call into the compiled extension when it is built). In the compiled
steady state the up track's `UpForward` does the same in C through this down track's
`DownForward` (`compiled()`); `sync()` takes its counts back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from . import aiortc_adapter as adapter
from . import native_io, rtcp
from .reports import next_boundary_s
from .rtpheader import wrap_rtx

if TYPE_CHECKING:
    from .reports import SenderReports
    from .stats import Counters
    from .uptrack import UpTrack

logger = logging.getLogger(__name__)


class DownTrack:
    """Server → subscriber copy of one up track, bound to one RTCRtpSender."""

    def __init__(
        self,
        uptrack: "UpTrack",
        sender: Any,
        *,
        clock: Clock,
        counters: "Counters",
        rtcp_interval_s: float,
        reports: "SenderReports",
        report_every: int = 1,
    ) -> None:
        self.uptrack = uptrack
        self.kind = uptrack.kind
        self._sender = sender
        self._clock = clock
        self._counters = counters
        self._rtcp_interval_s = rtcp_interval_s
        self._reports = reports
        self._report_every = max(1, report_every)  # periods between sender reports
        self._periods_since_report = self._report_every - 1  # the first live period reports
        self._fast: adapter.FastPath | None = None
        self._send: Any = adapter.discard_send  # send(packet, payload_type) -> bool
        self._patch_pt = -1  # >= 0 when this subscriber's payload type differs from the template
        self._rtx_pt = -1
        self._rtx_ssrc = 0
        self._rtx_seq = 0
        self._cname: str | None = None
        self._live = False  # forwarding (connected, and started on a keyframe for video)
        self._down: Any = None  # the compiled forward's end (DownForward), for the sender below
        self._down_sender: Any = None
        self._waiting = False
        self.connected = False
        self.closed = False
        self.packets_sent = 0
        self.octets_sent = 0
        self.retransmits = 0
        self.keyframe_requests = 0
        self.fraction_lost = 0
        adapter.hook_sender(
            sender,
            on_start=self._on_start,
            rtcp_loop=self._rtcp_loop,
            on_rtcp=self._on_rtcp,
            on_stop=self._on_stop,
        )

    # --- the forwarding path ------------------------------------------------------------

    def write(self, packet: bytes, seq: int, keyframe: bool) -> None:
        """Send one forwarded packet (already carrying the outgoing seq/ts/ssrc)."""
        if not self._live:
            if not self.connected or self.closed or not keyframe:
                return
            self._start_forwarding()
        self.packets_sent += 1
        self.octets_sent += len(packet)
        try:
            sent = self._send(packet, self._patch_pt)
        except Exception:  # one broken subscriber must not stop the fan-out
            sent = False
        if sent:
            self._counters.forwarded += 1
        else:
            self._counters.send_errors += 1

    def _start_forwarding(self) -> None:
        self._live = True
        if self._waiting:
            self._waiting = False
            self.uptrack.wait_for_keyframe(-1)
        else:
            self.uptrack.refresh_forward()

    @property
    def live(self) -> bool:
        return self._live

    def compiled(self) -> Any:
        """This down track's DownForward when it sends through the compiled Sender, else None."""
        sender = self._fast.compiled if self._fast is not None else None
        if sender is None or self._send != sender.send:
            return None
        if self._down_sender is not sender:
            self.sync()
            self._down = native_io.down_forward(sender, self._patch_pt)
            self._down_sender = sender
        return self._down

    def sync(self) -> None:
        """Add what the compiled forward sent for this down track to the counts."""
        if self._down is None:
            return
        packets, octets, failed = self._down.take()
        if packets:
            self.packets_sent += packets
            self.octets_sent += octets
            self._counters.forwarded += packets - failed
            self._counters.send_errors += failed

    # --- lifecycle (driven by aiortc through the adapter hooks) --------------------------------

    def _on_start(self, info: adapter.SendInfo) -> None:
        """The subscriber's DTLS is up and the sender negotiated: start forwarding."""
        if self.closed:
            return
        media_pt = -1
        mime = self.uptrack.mime_type.lower()
        for codec in info.codecs:
            if codec.mimeType.lower() == mime:
                media_pt = codec.payloadType
                break
        if media_pt < 0:
            logger.warning("subscriber did not accept %s; not forwarding %s", mime, self.uptrack.id)
            return
        for codec in info.codecs:
            if codec.mimeType.lower().endswith("/rtx") and codec.parameters.get("apt") == media_pt:
                self._rtx_pt = codec.payloadType
        if self.uptrack.down_pt < 0:
            self.uptrack.down_pt = media_pt
        self._patch_pt = media_pt if media_pt != self.uptrack.down_pt else -1
        self._rtx_ssrc = info.rtx_ssrc
        self._cname = info.cname
        self._fast = adapter.fast_path(self._sender.transport)
        if self._fast is not None:
            self.use_path(self._fast.send)

    def use_path(self, send: Any) -> None:
        """Start sending through `send(packet, payload_type)` (video waits for a keyframe)."""
        self._send = send
        self.connected = True
        if self.kind == "video":
            self._waiting = True
            self.uptrack.wait_for_keyframe(+1)
        else:
            self._live = True
            self.uptrack.refresh_forward()

    async def _on_stop(self) -> None:
        self.close()

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self.uptrack.request_keyframe()

    def source_closed(self) -> None:
        """The up track went away; the subscriber's renegotiation removes us."""
        self.sync()
        self._live = False
        self.connected = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._live = False
        self.connected = False
        self._send = adapter.discard_send
        if self._waiting:
            self._waiting = False
            self.uptrack.wait_for_keyframe(-1)
        self.uptrack.remove_downtrack(self)  # the compiled forward stops sending to us here
        self.sync()
        self._down = self._down_sender = None

    # --- RTCP --------------------------------------------------------------------------

    def _on_rtcp(self, packet: Any) -> None:
        if self.closed:
            return
        if rtcp.is_nack(packet):
            for seq in packet.lost:
                self._retransmit(seq)
        elif rtcp.is_keyframe_request(packet):
            self.request_keyframe()
        elif rtcp.is_receiver_report(packet):
            for report in packet.reports:
                if report.ssrc == self.uptrack.out_ssrc:
                    self.fraction_lost = report.fraction_lost

    def _retransmit(self, seq: int) -> None:
        packet = self.uptrack.retained(seq) if self._live else None
        if packet is None:
            return
        payload_type = self._patch_pt
        if self._rtx_pt >= 0:
            packet = wrap_rtx(packet, self._rtx_pt, self._rtx_seq, self._rtx_ssrc)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            payload_type = -1  # the RTX payload type is already in place
            if not packet:
                return
        self.retransmits += 1
        self._counters.retransmits += 1
        try:
            sent = self._send(packet, payload_type)
        except Exception:
            sent = False
        if not sent:
            self._counters.send_errors += 1

    async def _rtcp_loop(self) -> None:
        """Sender reports (so subscribers can sync audio and video) and path refresh."""
        uptrack = self.uptrack
        while True:
            # On the period's boundaries: every down track of a connection reports in the same
            # turn, and its reports leave in one compound packet (SenderReports).
            await self._clock.sleep(next_boundary_s(self._clock.time(), self._rtcp_interval_s))
            if self._fast is not None:
                before = self._send
                if self._fast.refresh():
                    self._send = self._fast.send if not self.closed else adapter.discard_send
                if self._send != before:
                    uptrack.refresh_forward()
            uptrack.sync()
            self.sync()
            if self._waiting:
                uptrack.request_keyframe()  # the first request (or its answer) may have been lost
            if not self._live or self.packets_sent == 0:
                continue
            self._periods_since_report += 1
            if self._periods_since_report < self._report_every:
                continue
            self._periods_since_report = 0
            now = self._clock.time()
            elapsed_ms = rtcp.ntp_ms_from_unix(now) - uptrack.last_arrival_ms
            rtp_ts = uptrack.last_out_ts + max(0, elapsed_ms) * uptrack.clock_rate // 1000
            data = rtcp.sender_report(
                uptrack.out_ssrc,
                rtcp.ntp_from_unix(now),
                rtp_ts,
                self.packets_sent,
                self.octets_sent,
                self._cname,
            )
            self._reports.add(self._sender.transport, data)

    def stats(self) -> dict[str, Any]:
        self.sync()
        return {
            "track": self.uptrack.id,
            "live": self._live,
            "packetsSent": self.packets_sent,
            "bytesSent": self.octets_sent,
            "retransmits": self.retransmits,
            "keyframeRequests": self.keyframe_requests,
            "fractionLost": self.fraction_lost,
        }
