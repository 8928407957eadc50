"""A real aiortc participant driving MediaService the way the Socket.IO handlers will."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import numpy as np
from aiortc import MediaStreamError, RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from publicrooms.media import aiortc_adapter
from publicrooms.media.service import MediaService

from .synthetic import AUDIO_RATE, BarcodeVideoTrack, ToneAudioTrack, dominant_frequency, read_barcode


def client_peer_connection() -> RTCPeerConnection:
    # no STUN (no internet here); loopback candidates through the adapter, like the server.
    # max-bundle as MediaService.client_config() asks: aiortc's "balanced" policy strands
    # tracks on a discarded transport when one offer brings several audio and video m-lines
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def poll(condition: Callable[[], bool], timeout: float, message: str | Callable[[], str]) -> None:
    """Wait until `condition()` holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text}")
        await asyncio.sleep(0.05)


async def poll_async(
    condition: Callable[[], Awaitable[bool]], timeout: float, message: str | Callable[[], str]
) -> None:
    """`poll` for conditions that need an await (e.g. MediaService.stats())."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text}")
        await asyncio.sleep(0.1)


@dataclass
class VideoStats:
    frames: list[tuple[float, int]] = field(default_factory=list)  # (arrival, frame number)
    sizes: set[tuple[int, int]] = field(default_factory=set)

    def numbers_since(self, since: float) -> list[int]:
        return [n for t, n in self.frames if t >= since]

    @property
    def count(self) -> int:
        return len(self.frames)

    def last_arrival(self) -> float:
        return self.frames[-1][0] if self.frames else 0.0


@dataclass
class AudioStats:
    chunks: list[np.ndarray] = field(default_factory=list)
    frames: int = 0

    def recent(self, seconds: float) -> np.ndarray:
        data = np.concatenate(self.chunks) if self.chunks else np.zeros(0)
        return data[-int(seconds * AUDIO_RATE) :]


class Participant:
    """One participant: an optional publisher and an optional subscriber connection."""

    def __init__(self, service: MediaService, room_id: str, participant_id: str) -> None:
        self.service = service
        self.room_id = room_id
        self.id = participant_id
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.video_track: BarcodeVideoTrack | None = None
        self.audio_track: ToneAudioTrack | None = None
        self.tracks: list[dict[str, Any]] = []  # from the latest media-offer
        self.video: dict[str, VideoStats] = {}  # by publishing participant id
        self.audio: dict[str, AudioStats] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.offers = 0
        self._consumers: list[asyncio.Task[None]] = []
        self._negotiation = asyncio.Lock()
        self.decode_video = True

    # --- publishing ----------------------------------------------------------------------

    async def publish(self, *, video: bool = True, audio: bool = True, tone_hz: float = 440.0, fps: int = 15) -> None:
        if self.publish_pc is not None:
            await self.publish_pc.close()
        pc = self.publish_pc = client_peer_connection()
        if video:
            self.video_track = BarcodeVideoTrack(fps=fps)
            pc.addTrack(self.video_track)
        if audio:
            self.audio_track = ToneAudioTrack(tone_hz)
            pc.addTrack(self.audio_track)
        offer = await pc.createOffer()
        aiortc_adapter.prepare_gathering(pc)
        await pc.setLocalDescription(offer)
        answer = await self.service.publish(self.room_id, self.id, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    # --- subscribing ---------------------------------------------------------------------

    async def subscribe(self) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = client_peer_connection()
            self.subscribe_pc.on("track", self._on_track)
        offer = await self.service.subscribe(self.room_id, self.id)
        if offer is not None:
            await self.on_offer(offer)

    async def on_event(self, event: str, payload: dict[str, Any]) -> None:
        self.events.append((event, payload))
        if event == "media-offer":
            await self.on_offer(payload)

    async def on_offer(self, offer: dict[str, Any]) -> None:
        async with self._negotiation:
            pc = self.subscribe_pc
            if pc is None:
                return
            self.offers += 1
            self.tracks = offer["tracks"]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            answer = await pc.createAnswer()
            aiortc_adapter.prepare_gathering(pc)
            await pc.setLocalDescription(answer)
            await self.service.subscriber_answer(self.room_id, self.id, pc.localDescription.sdp, offer["offerId"])

    def _owner_of(self, track: Any) -> str:
        assert self.subscribe_pc is not None
        for transceiver in self.subscribe_pc.getTransceivers():
            if transceiver.receiver.track is track:
                for info in self.tracks:
                    if info["mid"] == transceiver.mid:
                        return info["participantId"]
        return "?"

    def _on_track(self, track: Any) -> None:
        owner = self._owner_of(track)
        if track.kind == "video":
            stats = self.video.setdefault(owner, VideoStats())
            self._consumers.append(asyncio.ensure_future(self._consume_video(track, stats)))
        else:
            audio = self.audio.setdefault(owner, AudioStats())
            self._consumers.append(asyncio.ensure_future(self._consume_audio(track, audio)))

    async def _consume_video(self, track: Any, stats: VideoStats) -> None:
        try:
            while True:
                frame = await track.recv()
                stats.sizes.add((frame.width, frame.height))
                number = read_barcode(frame) if self.decode_video else 0
                stats.frames.append((time.monotonic(), number))
        except (MediaStreamError, asyncio.CancelledError):
            pass

    async def _consume_audio(self, track: Any, stats: AudioStats) -> None:
        try:
            while True:
                frame = await track.recv()
                samples = frame.to_ndarray()
                if samples.ndim == 2:  # packed stereo s16: interleaved channels
                    samples = samples.reshape(-1, len(frame.layout.channels))[:, 0]
                stats.chunks.append(samples.astype(np.float32))
                stats.chunks = stats.chunks[-100:]  # ~2 s
                stats.frames += 1
        except (MediaStreamError, asyncio.CancelledError):
            pass

    # --- checks ---------------------------------------------------------------------------

    def tone_of(self, publisher_id: str, seconds: float = 1.0) -> float:
        samples = self.audio[publisher_id].recent(seconds)
        return dominant_frequency(samples, AUDIO_RATE) if len(samples) else 0.0

    async def close(self, *, tell_service: bool = True) -> None:
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._consumers.clear()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        self.publish_pc = self.subscribe_pc = None
        if tell_service:
            await self.service.close_participant(self.room_id, self.id)


class EventRouter:
    """The Socket.IO side in miniature: delivers service events to participants."""

    def __init__(self) -> None:
        self.participants: dict[tuple[str, str], Participant] = {}
        self.room_events: list[tuple[str, str, dict[str, Any]]] = []

    def add(self, participant: Participant) -> Participant:
        self.participants[(participant.room_id, participant.id)] = participant
        return participant

    async def __call__(self, room_id: str, participant_id: str | None, event: str, payload: dict[str, Any]) -> None:
        if participant_id is None:
            self.room_events.append((room_id, event, payload))
            for (room, _), participant in list(self.participants.items()):
                if room == room_id:
                    participant.events.append((event, payload))
            return
        participant = self.participants.get((room_id, participant_id))
        if participant is not None:
            await participant.on_event(event, payload)


OnEvent = Callable[[str, str | None, str, dict[str, Any]], Awaitable[None]]
