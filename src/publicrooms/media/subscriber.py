"""Subscriber: a participant's subscribe connection (the server offers, the client answers).

Lock contract: `_lock` serialises every negotiation step on the connection; while an offer is
outstanding, changes are only recorded (`dirty`) and the owner syncs again after the answer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiortc import RTCSessionDescription

from ..clock import Clock
from . import aiortc_adapter as adapter
from .downtrack import DownTrack
from .errors import InvalidSdp, StaleAnswer
from .publisher import check_sdp
from .settings import MediaSettings
from .reports import SenderReports
from .stats import Counters
from .uptrack import UpTrack

logger = logging.getLogger(__name__)


class Subscriber:
    """Sends every other participant's up tracks to one participant."""

    def __init__(
        self,
        participant_id: str,
        *,
        network: adapter.Network,
        clock: Clock,
        settings: MediaSettings,
        counters: Counters,
        on_failed: Callable[["Subscriber"], None],
    ) -> None:
        self.participant_id = participant_id
        self._clock = clock
        self._settings = settings
        self._counters = counters
        self._reports = SenderReports(counters)
        self.pc = adapter.new_peer_connection(network)
        counters.peer_connections_opened += 1
        self._transceivers: dict[str, Any] = {}
        self._downtracks: dict[str, DownTrack] = {}
        self._lock = asyncio.Lock()
        self._offer_id = 0
        self._pending: int | None = None
        self.dirty = False
        self.closed = False

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.pc.connectionState in ("failed", "closed") and not self.closed:
                on_failed(self)

    @property
    def downtracks(self) -> dict[str, DownTrack]:
        return self._downtracks

    async def sync(self, uptracks: list[UpTrack]) -> dict[str, Any] | None:
        """Match the connection to `uptracks`; returns a new offer payload, or None if none is due."""
        async with self._lock:
            if self.closed or self.pc.connectionState == "closed":
                return None  # closing: the room drops this subscriber
            if self._pending is not None:
                self.dirty = True
                return None
            self.dirty = False
            changed = await self._apply(uptracks)
            if not changed and self._offer_id > 0:
                return None
            if not self._transceivers and self._offer_id == 0:
                return None  # nothing to receive yet: the first offer comes with the first track
            return await self._offer()

    async def answer(self, answer_sdp: str, offer_id: int | None) -> bool:
        """Apply the client's answer; returns True when changes queued meanwhile need an offer."""
        async with self._lock:
            if self._pending is None or (offer_id is not None and offer_id != self._pending):
                raise StaleAnswer(f"no pending offer {offer_id} (pending: {self._pending})")
            check_sdp(answer_sdp, max_sections=len(self.pc.getTransceivers()))
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
            except Exception as exc:
                raise InvalidSdp(f"cannot apply subscribe answer: {exc}") from exc
            self._pending = None
            return self.dirty

    async def _apply(self, uptracks: list[UpTrack]) -> bool:
        wanted = {uptrack.id: uptrack for uptrack in uptracks if not uptrack.closed}
        changed = False
        for track_id in [t for t in self._transceivers if t not in wanted]:
            changed = True
            transceiver = self._transceivers.pop(track_id)
            downtrack = self._downtracks.pop(track_id)
            downtrack.close()
            transceiver.direction = "inactive"  # m-line stays; the client ends the remote track
            await transceiver.sender.stop()
        for track_id, uptrack in wanted.items():
            if track_id in self._transceivers:
                continue
            changed = True
            transceiver = self.pc.addTransceiver(uptrack.kind, direction="sendonly")
            adapter.set_sender_identity(
                transceiver.sender,
                ssrc=uptrack.out_ssrc,
                stream_id=uptrack.participant_id,
                track_id=uptrack.id,
            )
            adapter.set_codec_preferences(transceiver, uptrack.mime_type)
            downtrack = DownTrack(
                uptrack,
                transceiver.sender,
                clock=self._clock,
                counters=self._counters,
                rtcp_interval_s=self._settings.rtcp_interval_s,
                reports=self._reports,
                report_every=1 if uptrack.kind == "video" else round(
                    self._settings.audio_report_interval_s / self._settings.rtcp_interval_s),
            )
            uptrack.add_downtrack(downtrack)
            self._transceivers[track_id] = transceiver
            self._downtracks[track_id] = downtrack
        return changed

    async def _offer(self) -> dict[str, Any]:
        offer = await self.pc.createOffer()
        adapter.prepare_gathering(self.pc)
        await self.pc.setLocalDescription(offer)
        adapter.hook_datagrams(self.pc)  # the subscriber's RTCP (NACK, PLI, reports) in the socket's turn
        self._offer_id += 1
        self._pending = self._offer_id
        return {
            "type": "offer",
            "sdp": self.pc.localDescription.sdp,
            "offerId": self._offer_id,
            "tracks": self.tracks(),
        }

    def tracks(self) -> list[dict[str, Any]]:
        """Which m-line carries whose media: lets a UI put a name on each tile."""
        result = []
        for track_id, transceiver in self._transceivers.items():
            uptrack = self._downtracks[track_id].uptrack
            result.append(
                {
                    "participantId": uptrack.participant_id,
                    "kind": uptrack.kind,
                    "mid": transceiver.mid,
                    "streamId": uptrack.participant_id,
                    "trackId": uptrack.id,
                    "muted": uptrack.muted,
                }
            )
        return result

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for downtrack in self._downtracks.values():
            downtrack.close()
        self._downtracks.clear()
        self._transceivers.clear()
        self._reports.close()
        await self.pc.close()
        self._counters.peer_connections_closed += 1

    def udp_sockets(self) -> int:
        return adapter.udp_socket_count(self.pc)
