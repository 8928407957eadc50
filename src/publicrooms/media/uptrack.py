"""UpTrack: one publisher's audio or video as it reaches the server, fanned out to down tracks.

The up track owns the outgoing sequence/timestamp space. Whatever it drops (RTP padding,
packets while muted, packets before a keyframe) and whatever makes the source jump (the
publisher reconnects with a new SSRC) is absorbed here, so every down track can forward the
same header bytes and subscribers always see one continuous stream. It also keeps the one
NACK history of the packets it forwarded, which every down track retransmits from.

With the compiled extension, the steady state (the next packet of the current source, no
padding, not muted, no keyframe wait, every live down track on the compiled sender) is
forwarded in C by an `UpForward` without reaching `on_rtp`; everything else still comes here.
This class stays the owner of the state: `_push()` hands C the parameters whenever they change,
`_sync()` takes back what C advanced (sequence, counts, audio level) before any is read.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Callable

from ..clock import Clock
from . import native_io
from .keyframe import KeyframeTest, keyframe_test
from .rtpheader import ExtensionRewriter, pack_seq_ts, pack_u32, payload_bounds, unpack_header, unwrap_rtx

if TYPE_CHECKING:
    from .aiortc_adapter import ReceiveInfo
    from .downtrack import DownTrack

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
# what subscribers negotiate (aiortc's offer); `mid` is deliberately absent: see ExtensionRewriter
DOWN_EXTENSION_IDS = {
    "audio": {AUDIO_LEVEL_URI: 2},
    "video": {"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 3},
}
MAX_NACK_GAP = 64  # a bigger jump is a restart or a burst not worth repairing


class UpTrack:
    """Publisher → server stream of one kind; forwards raw RTP to its down tracks."""

    def __init__(
        self,
        *,
        participant_id: str,
        kind: str,
        clock: Clock,
        pli_throttle_s: float,
        history_packets: int = 512,
    ) -> None:
        self.participant_id = participant_id
        self.kind = kind
        self.id = f"{participant_id}:{kind}"
        self.out_ssrc = random.getrandbits(32) or 1
        self.mime_type = "audio/opus" if kind == "audio" else "video/VP8"
        self.clock_rate = 48000 if kind == "audio" else 90000
        self.muted = False
        self.closed = False
        self._clock = clock
        self._pli_throttle_s = pli_throttle_s
        self._downtracks: tuple[DownTrack, ...] = ()
        self._waiting = 0  # down tracks waiting for a keyframe before they start
        self._need_keyframe = False  # whole track waits (after unmute / restart)
        self._keyframe: KeyframeTest | None = None
        self._rewriter: ExtensionRewriter | None = None
        self._media_pt = -1
        self._rtx_pt = -1
        self.down_pt = -1  # payload type written into forwarded packets (set by the first down track)
        self._source: Callable[[int], None] | None = None  # sends a PLI upstream
        self._nack: Callable[[int, list[int]], None] | None = None
        # sequence / timestamp state
        self._ssrc: int | None = None
        self._rtx_ssrcs: dict[int, int] = {}
        self._in_seq = 0
        self._have_in = False
        self._seq_offset = 0
        self._ts_offset = 0
        self.last_out_seq = 0
        self.last_out_ts = 0
        self.last_arrival_ms = 0
        self._have_out = False
        self._restart = True
        # keyframe request throttling
        self._last_pli = -1e9
        self._pli_task: asyncio.Task[None] | None = None
        # statistics read by the room / worker
        self.missing: set[int] = set()
        self.packets_in = 0
        self.packets_dropped = 0
        self.highest_seq = 0
        # Loudest packet since the last speaker tick (127 - dBov attenuation), -1 for none.
        self.level_peak = -1
        # the forwarded packets, by outgoing sequence number, for NACKs (in C when compiled)
        size = 1 << max(5, (history_packets - 1).bit_length())
        self._mask = size - 1
        self.forward: Any = native_io.up_forward(size)  # None on the Python path
        self._history: list[bytes | None] = [None] * size if self.forward is None else []

    # --- wiring ------------------------------------------------------------------------

    def preconfigure(self, codecs: list[Any]) -> None:
        """Learn the codec from the answer, so subscribers can be offered it before media flows."""
        media = next((c for c in codecs if c.mimeType.lower() != f"{self.kind}/rtx"), None)
        if media is not None:
            self.mime_type = media.mimeType
            self.clock_rate = media.clockRate

    def configure(self, info: "ReceiveInfo") -> None:
        """Take codec, payload types and extension ids from a fresh negotiation."""
        media = next((c for c in info.codecs if c.mimeType.lower() != f"{self.kind}/rtx"), None)
        if media is None:
            return
        self.mime_type = media.mimeType
        self.clock_rate = media.clockRate
        self._media_pt = media.payloadType
        self._rtx_pt = next(
            (
                c.payloadType
                for c in info.codecs
                if c.mimeType.lower() == f"{self.kind}/rtx" and c.parameters.get("apt") == media.payloadType
            ),
            -1,
        )
        self._rtx_ssrcs = dict(info.rtx_ssrcs)
        self._keyframe = keyframe_test(self.mime_type)
        down_ids = DOWN_EXTENSION_IDS.get(self.kind, {})
        id_map = {up_id: down_ids.get(uri) for uri, up_id in info.header_extensions.items()}
        self._rewriter = ExtensionRewriter(id_map, info.header_extensions.get(AUDIO_LEVEL_URI))
        if self.forward is not None and self._rewriter.one_byte_ids is not None:
            self.forward.extensions(self._rewriter.one_byte_ids, self._rewriter.audio_level_id)
        self._push()

    def attach_source(
        self, send_pli: Callable[[int], None], send_nack: Callable[[int, list[int]], None]
    ) -> None:
        """Bind to a (new) publish connection; the next packets rebase seq/ts onto the old ones."""
        self._sync()
        self._source = send_pli
        self._nack = send_nack
        self._ssrc = None
        self._restart = True
        self.missing.clear()
        if self._keyframe is not None or self.kind == "video":
            self._need_keyframe = True
        self._push()

    def detach_source(self) -> None:
        self._source = None
        self._nack = None

    def add_downtrack(self, downtrack: "DownTrack") -> None:
        self._downtracks = self._downtracks + (downtrack,)
        self._push()

    def remove_downtrack(self, downtrack: "DownTrack") -> None:
        self._downtracks = tuple(d for d in self._downtracks if d is not downtrack)
        self._push()

    @property
    def downtracks(self) -> tuple["DownTrack", ...]:
        return self._downtracks

    def wait_for_keyframe(self, delta: int) -> None:
        """A down track starts (+1) or stops (-1) waiting for a keyframe."""
        self._waiting = max(0, self._waiting + delta)
        self._push()
        if delta > 0:
            self.request_keyframe()

    def set_muted(self, muted: bool) -> None:
        if muted == self.muted:
            return
        self.muted = muted
        if not muted and self.kind == "video":
            # packets were dropped while muted: restart subscribers' decoders cleanly
            self._need_keyframe = True
            self.request_keyframe()
        self._push()

    # --- keyframes -----------------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per throttle interval (never lost)."""
        if self.kind != "video" or self.closed:
            return
        now = self._clock.monotonic()
        wait = self._last_pli + self._pli_throttle_s - now
        if wait <= 0:
            self._send_pli(now)
        elif self._pli_task is None:
            self._pli_task = asyncio.ensure_future(self._delayed_pli(wait))

    async def _delayed_pli(self, wait: float) -> None:
        try:
            await self._clock.sleep(wait)
            self._pli_task = None
            self._send_pli(self._clock.monotonic())
        except asyncio.CancelledError:
            self._pli_task = None

    def _send_pli(self, now: float) -> None:
        if self._source is not None and self._ssrc is not None:
            self._last_pli = now
            self._source(self._ssrc)
        elif self._source is not None:
            # nothing received yet: ask as soon as the first packet shows the SSRC
            self._last_pli = -1e9

    # --- the forwarding path ---------------------------------------------------------------

    def on_rtp(self, data: bytes, arrival_ms: int) -> None:
        """Forward one decrypted RTP packet from the publisher to every down track."""
        if len(data) < 12 or self._rewriter is None:
            return
        if self.forward is not None:
            self._sync()
            self._forward_python(data, arrival_ms)
            self._push()
        else:
            self._forward_python(data, arrival_ms)

    def _forward_python(self, data: bytes, arrival_ms: int) -> None:
        flags, marker_pt, seq, ts, ssrc = unpack_header(data)
        pt = marker_pt & 0x7F
        if ssrc != self._ssrc:
            if pt == self._rtx_pt or ssrc in self._rtx_ssrcs:
                media_ssrc = self._rtx_ssrcs.get(ssrc, self._ssrc)
                if media_ssrc is None or media_ssrc != self._ssrc:
                    return
                data = unwrap_rtx(data, self._media_pt, media_ssrc)
                if not data:
                    return  # padding-only RTX: bandwidth probing
                flags, marker_pt, seq, ts, ssrc = unpack_header(data)
                pt = self._media_pt
            else:
                self._new_source(ssrc, seq, ts, arrival_ms)
        if pt != self._media_pt:
            return
        self.packets_in += 1

        # where the packet sits in the publisher's sequence space
        diff = (seq - self._in_seq) & 0xFFFF
        if diff == 0 and self._have_in:
            return  # duplicate
        newer = diff < 0x8000 or not self._have_in
        if newer:
            if 1 < diff <= MAX_NACK_GAP and self._have_in:
                self._lost(seq, diff)
            self._in_seq = seq
            self._have_in = True
            self.highest_seq = seq
        else:
            self.missing.discard(seq)

        # drops that must not leave a hole in the forwarded sequence
        if flags & 0x20 or self.muted or self._need_keyframe:
            drop = self.muted
            if not drop and flags & 0x20:
                start, end = payload_bounds(data)
                drop = start < 0 or end <= start  # padding only
            keyframe = False
            if not drop and self._need_keyframe:
                keyframe = self._is_keyframe(data)
                if keyframe:
                    self._need_keyframe = False
                else:
                    drop = True
            if drop:
                self.packets_dropped += 1
                if newer:
                    self._seq_offset = (self._seq_offset - 1) & 0xFFFF
                return
        else:
            keyframe = self._waiting > 0 and self._is_keyframe(data)

        out_seq = (seq + self._seq_offset) & 0xFFFF
        out_ts = (ts + self._ts_offset) & 0xFFFFFFFF
        packet = bytearray(data)
        if flags & 0x10:
            level = self._rewriter.rewrite(packet)
            if level >= 0 and 127 - (level & 0x7F) > self.level_peak:
                self.level_peak = 127 - (level & 0x7F)
        pack_seq_ts(packet, 2, out_seq, out_ts)
        pack_u32(packet, 8, self.out_ssrc)
        if self.down_pt >= 0:
            packet[1] = (marker_pt & 0x80) | self.down_pt
        if newer:
            self.last_out_seq = out_seq
            self.last_out_ts = out_ts
            self.last_arrival_ms = arrival_ms
            self._have_out = True
        template = bytes(packet)
        if self.forward is not None:
            self.forward.remember(out_seq, template)
        else:
            self._history[out_seq & self._mask] = template
        for downtrack in self._downtracks:
            downtrack.write(template, out_seq, keyframe)

    def retained(self, seq: int) -> bytes | None:
        """The forwarded packet with outgoing sequence number `seq`, if still in the history."""
        if self.forward is not None:
            return self.forward.packet(seq)  # type: ignore[no-any-return]
        packet = self._history[seq & self._mask]
        if packet is None or ((packet[2] << 8) | packet[3]) != seq:
            return None
        return packet

    # --- the compiled steady state ---------------------------------------------------------

    def _sync(self) -> None:
        """Take back what the compiled forward advanced since the last call."""
        if self.forward is None:
            return
        pulled = self.forward.pull()
        if pulled is None:
            return
        in_seq, out_seq, out_ts, arrival_ms, packets, peak = pulled
        self._in_seq = self.highest_seq = in_seq
        self.last_out_seq, self.last_out_ts, self.last_arrival_ms = out_seq, out_ts, arrival_ms
        self._have_out = True
        self.packets_in += packets
        if peak > self.level_peak:
            self.level_peak = peak

    def sync(self) -> None:
        """Bring counts and the last forwarded seq/ts up to date (before reading them)."""
        if self.forward is not None:
            self._sync()

    def _push(self) -> None:
        """Hand the compiled forward the steady state, or stop it when there is none."""
        forward = self.forward
        if forward is None:
            return
        self._sync()
        downs: list[Any] = []
        steady = (
            self._ssrc is not None and self._have_in and not self.muted and not self._need_keyframe
            and self._waiting == 0 and self._media_pt >= 0 and not self.closed
            and self._rewriter is not None and self._rewriter.one_byte_ids is not None
        )
        if steady:
            for downtrack in self._downtracks:
                if downtrack.live:
                    down = downtrack.compiled()
                    if down is None:  # e.g. a TURN-relayed subscriber: Python sends to it
                        steady = False
                        break
                    downs.append(down)
        if not steady:
            forward.disable()
            return
        forward.set(True, self._ssrc, self._media_pt, self._in_seq, self._seq_offset, self._ts_offset,
                    self.out_ssrc, self.down_pt, tuple(downs))

    def refresh_forward(self) -> None:
        """A down track's state changed (live, stopped, new send path)."""
        self._push()

    def _is_keyframe(self, data: bytes) -> bool:
        if self._keyframe is None:
            return True
        start, end = payload_bounds(data)
        return start >= 0 and self._keyframe(data, start, end)

    def _new_source(self, ssrc: int, seq: int, ts: int, arrival_ms: int) -> None:
        """The publisher (re)started: continue the outgoing seq/ts where the old source stopped."""
        self._ssrc = ssrc
        self._have_in = False
        self.missing.clear()
        if self._have_out:
            elapsed_ticks = max(1, (arrival_ms - self.last_arrival_ms) * self.clock_rate // 1000)
            self._seq_offset = (self.last_out_seq + 1 - seq) & 0xFFFF
            self._ts_offset = (self.last_out_ts + elapsed_ticks - ts) & 0xFFFFFFFF
        else:
            self._seq_offset = 0
            self._ts_offset = 0
        if self.kind == "video":
            self._need_keyframe = True
            self._last_pli = -1e9
            self.request_keyframe()

    def _lost(self, seq: int, diff: int) -> None:
        lost = [(seq - i) & 0xFFFF for i in range(diff - 1, 0, -1)]
        self.missing.update(lost)
        if len(self.missing) > 4 * MAX_NACK_GAP:
            self.missing.clear()
        if self._nack is not None and self._ssrc is not None and self.kind == "video":
            self._nack(self._ssrc, lost)

    # --- speaker detection ---------------------------------------------------------------

    def take_level(self) -> float | None:
        """Peak loudness (127 - dBov attenuation) since the last call, or None without data.

        The peak, not the mean: speech (and a test beep) comes in bursts shorter than the
        interval, and averaging them with the pauses hid real speakers. The detector's hold
        still stops one click from taking the highlight.
        """
        self._sync()
        level, self.level_peak = self.level_peak, -1
        if self.muted or level < 0:
            return None
        return float(level)

    @property
    def media_ssrc(self) -> int | None:
        return self._ssrc

    def close(self) -> None:
        self.closed = True
        if self.forward is not None:
            self._sync()
            self.forward.clear()
        self._history = [None] * len(self._history)
        if self._pli_task is not None:
            self._pli_task.cancel()
            self._pli_task = None
        for downtrack in self._downtracks:
            downtrack.source_closed()
        self._downtracks = ()
        self._source = None
        self._nack = None
