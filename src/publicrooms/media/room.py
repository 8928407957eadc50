"""Room: who publishes what, who subscribes, and renegotiation when that changes.

The room never touches RTP: up tracks and down tracks do. Lock contract: `_lock` serialises
membership changes (publish, close, failures) so the set of up tracks each subscriber is synced
to is always a consistent snapshot; subscriber negotiation has its own per-connection lock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from ..clock import Clock
from . import aiortc_adapter as adapter
from .errors import NotSubscribed
from .publisher import Publisher
from .settings import MediaSettings
from .speaker import ActiveSpeaker
from .stats import Counters
from .subscriber import Subscriber
from .uptrack import UpTrack

logger = logging.getLogger(__name__)

# (participant id or None for everyone in the room, event name, payload)
Emit = Callable[[str | None, str, dict[str, Any]], None]
KINDS = ("audio", "video")


class Participant:
    """A participant's media state in one room."""

    def __init__(self, participant_id: str) -> None:
        self.id = participant_id
        self.uptracks: dict[str, UpTrack] = {}
        self.publisher: Publisher | None = None
        self.subscriber: Subscriber | None = None
        self.muted: dict[str, bool] = {kind: False for kind in KINDS}


class Room:
    """The SFU state of one room inside a worker."""

    def __init__(
        self,
        room_id: str,
        *,
        network: adapter.Network,
        clock: Clock,
        settings: MediaSettings,
        counters: Counters,
        emit: Emit,
    ) -> None:
        self.id = room_id
        self._network = network
        self._clock = clock
        self._settings = settings
        self._counters = counters
        self._emit = emit
        self._participants: dict[str, Participant] = {}
        self._lock = asyncio.Lock()
        self._speaker = ActiveSpeaker(settings.speaker_threshold_dbov)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    @property
    def empty(self) -> bool:
        return not self._participants

    def _participant(self, participant_id: str) -> Participant:
        participant = self._participants.get(participant_id)
        if participant is None:
            participant = self._participants[participant_id] = Participant(participant_id)
        return participant

    def _uptracks_for(self, participant_id: str) -> list[UpTrack]:
        """Everything `participant_id` should receive: every other participant's up tracks."""
        return [
            uptrack
            for other in self._participants.values()
            if other.id != participant_id
            for uptrack in other.uptracks.values()
        ]

    # --- publishing -------------------------------------------------------------------------

    async def publish(self, participant_id: str, offer_sdp: str) -> dict[str, Any]:
        """Answer a publish offer; a repeated publish replaces the connection, keeping the tracks."""
        async with self._lock:
            participant = self._participant(participant_id)
            publisher = Publisher(
                participant_id,
                network=self._network,
                clock=self._clock,
                settings=self._settings,
                counters=self._counters,
                on_failed=self._publisher_failed,
            )
            try:
                kinds = await publisher.accept_offer(offer_sdp)
            except Exception:
                await publisher.close()
                if participant.publisher is None and participant.subscriber is None:
                    self._participants.pop(participant_id, None)
                raise
            old = participant.publisher
            participant.publisher = publisher
            if old is not None:
                await old.close()
            changed = False
            for kind in list(participant.uptracks):
                if kind not in kinds:
                    participant.uptracks.pop(kind).close()
                    changed = True
            for kind in kinds:
                uptrack = participant.uptracks.get(kind)
                if uptrack is None:
                    uptrack = participant.uptracks[kind] = UpTrack(
                        participant_id=participant_id,
                        kind=kind,
                        clock=self._clock,
                        pli_throttle_s=self._settings.pli_throttle_s,
                        history_packets=self._settings.nack_history_packets,
                    )
                    uptrack.set_muted(participant.muted[kind])
                    changed = True
                publisher.bind(uptrack)
            answer = await publisher.answer()
            if changed:
                await self._renegotiate(exclude=participant_id)
            return {"type": "answer", "sdp": answer, "kinds": kinds}

    def _publisher_failed(self, publisher: Publisher) -> None:
        self._spawn(self._drop_publisher(publisher))

    async def _drop_publisher(self, publisher: Publisher) -> None:
        # a client replacing its publish connection closes the old one first: give the new
        # offer time to arrive so subscribers keep their tracks (seq/ts are rebased)
        await self._clock.sleep(self._settings.republish_grace_s)
        async with self._lock:
            participant = self._participants.get(publisher.participant_id)
            if participant is None or participant.publisher is not publisher:
                return
            logger.warning("publish connection of %s in %s ended (%s)", participant.id, self.id,
                           publisher.pc.connectionState)
            await self._remove_publishing(participant)
            self._forget_if_idle(participant)
            await self._renegotiate(exclude=participant.id)

    async def _remove_publishing(self, participant: Participant) -> None:
        if participant.publisher is not None:
            await participant.publisher.close()
            participant.publisher = None
        for uptrack in participant.uptracks.values():
            uptrack.close()
        participant.uptracks.clear()
        self._speaker.forget(participant.id)

    # --- subscribing ------------------------------------------------------------------------

    async def subscribe(self, participant_id: str) -> dict[str, Any] | None:
        """Open a (new) subscribe connection; returns an offer, or None if nothing to receive yet."""
        async with self._lock:
            participant = self._participant(participant_id)
            if participant.subscriber is not None:
                # a client subscribing again has a new peer connection (reload, network change)
                old, participant.subscriber = participant.subscriber, None
                await old.close()
            if participant.subscriber is None:
                participant.subscriber = Subscriber(
                    participant_id,
                    network=self._network,
                    clock=self._clock,
                    settings=self._settings,
                    counters=self._counters,
                    on_failed=self._subscriber_failed,
                )
            return await participant.subscriber.sync(self._uptracks_for(participant_id))

    async def subscriber_answer(self, participant_id: str, answer_sdp: str, offer_id: int | None) -> None:
        participant = self._participants.get(participant_id)
        if participant is None or participant.subscriber is None:
            raise NotSubscribed(f"{participant_id} has no subscribe connection in {self.id}")
        subscriber = participant.subscriber
        if await subscriber.answer(answer_sdp, offer_id):
            async with self._lock:
                offer = await subscriber.sync(self._uptracks_for(participant_id))
            if offer is not None:
                self._emit(participant_id, "media-offer", offer)

    def _subscriber_failed(self, subscriber: Subscriber) -> None:
        self._spawn(self._drop_subscriber(subscriber))

    async def _drop_subscriber(self, subscriber: Subscriber) -> None:
        async with self._lock:
            participant = self._participants.get(subscriber.participant_id)
            if participant is None or participant.subscriber is not subscriber:
                return
            logger.warning("subscribe connection of %s in %s ended (%s)", participant.id, self.id,
                           subscriber.pc.connectionState)
            participant.subscriber = None
            await subscriber.close()
            self._forget_if_idle(participant)

    async def _renegotiate(self, exclude: str) -> None:
        """Offer the new set of tracks to every other subscriber (caller holds `_lock`)."""
        for participant in list(self._participants.values()):
            if participant.id == exclude or participant.subscriber is None:
                continue
            try:
                offer = await participant.subscriber.sync(self._uptracks_for(participant.id))
            except Exception:
                # one broken connection must not block the others' renegotiation
                logger.exception("renegotiation of %s in %s failed", participant.id, self.id)
                continue
            if offer is not None:
                self._emit(participant.id, "media-offer", offer)

    # --- control ---------------------------------------------------------------------------------

    def set_muted(self, participant_id: str, kind: str, muted: bool) -> None:
        """Stop (or resume) forwarding one kind of a participant's media."""
        participant = self._participant(participant_id)
        participant.muted[kind] = muted
        uptrack = participant.uptracks.get(kind)
        if uptrack is not None:
            uptrack.set_muted(muted)
        if muted and kind == "audio":
            self._speaker.forget(participant_id)

    async def close_participant(self, participant_id: str) -> None:
        async with self._lock:
            participant = self._participants.pop(participant_id, None)
            if participant is None:
                return
            await self._remove_publishing(participant)
            if participant.subscriber is not None:
                await participant.subscriber.close()
                participant.subscriber = None
            await self._renegotiate(exclude=participant_id)

    def _forget_if_idle(self, participant: Participant) -> None:
        if participant.publisher is None and participant.subscriber is None and not participant.uptracks:
            if not any(participant.muted.values()):
                self._participants.pop(participant.id, None)

    # --- periodic work -------------------------------------------------------------------------

    def tick(self) -> None:
        """Run active-speaker detection over the last interval's audio levels."""
        levels = {}
        for participant in self._participants.values():
            audio = participant.uptracks.get("audio")
            if audio is not None:
                level = audio.take_level()
                if level is not None:
                    levels[participant.id] = level
        speaker = self._speaker.update(levels)
        if speaker is not None:  # NOBODY (the speaker went quiet) goes out as userId null
            self._emit(None, "active-speaker", {"userId": speaker or None})

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- introspection -------------------------------------------------------------------------

    def media(self) -> list[dict[str, Any]]:
        """What media exists in the room: one entry per published track."""
        return [
            {"participantId": participant.id, "kind": kind, "muted": uptrack.muted}
            for participant in self._participants.values()
            for kind, uptrack in participant.uptracks.items()
        ]

    def stats(self) -> dict[str, Any]:
        peer_connections = udp_sockets = uptracks = downtracks = 0
        tracks = []
        subscriptions = {}
        for participant in self._participants.values():
            if participant.subscriber is not None:
                subscriptions[participant.id] = [d.stats() for d in participant.subscriber.downtracks.values()]
            for connection in (participant.publisher, participant.subscriber):
                if connection is not None:
                    peer_connections += 1
                    udp_sockets += connection.udp_sockets()
            uptracks += len(participant.uptracks)
            for uptrack in participant.uptracks.values():
                uptrack.sync()
                downtracks += len(uptrack.downtracks)
                tracks.append(
                    {
                        "id": uptrack.id,
                        "packetsIn": uptrack.packets_in,
                        "dropped": uptrack.packets_dropped,
                        "muted": uptrack.muted,
                        "subscribers": len(uptrack.downtracks),
                    }
                )
        return {
            "participants": len(self._participants),
            "peerConnections": peer_connections,
            "udpSockets": udp_sockets,
            "upTracks": uptracks,
            "downTracks": downtracks,
            "tracks": tracks,
            "subscriptions": subscriptions,
        }

    async def close(self) -> None:
        """Close everything at once (worker shutdown): no renegotiation on the way out."""
        self.closed = True
        async with self._lock:
            participants, self._participants = list(self._participants.values()), {}
            for participant in participants:
                await self._remove_publishing(participant)
                if participant.subscriber is not None:
                    await participant.subscriber.close()
                    participant.subscriber = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
