"""MediaService: the SFU as the signalling process sees it. It never touches RTP.

Rooms are placed on media worker processes (least loaded first); every call is forwarded to
the room's worker. When a worker dies its rooms are released, a replacement worker is
started, and each affected room gets a `media-reconnect` event: clients re-publish and
re-subscribe, and the room lands on a live worker on its next call.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..clock import Clock
from ..logging import LogFormat
from .errors import MediaError, MediaUnavailable, WorkerDied
from .settings import MediaSettings
from .workerprocess import WorkerProcess

logger = logging.getLogger(__name__)

KINDS = ("audio", "video")

# on_event(room_id, participant_id or None for everyone in the room, event name, payload)
OnEvent = Callable[[str, str | None, str, dict[str, Any]], Awaitable[None]]


@dataclass
class _ParticipantMedia:
    kinds: list[str] = field(default_factory=list)
    muted: dict[str, bool] = field(default_factory=lambda: {kind: False for kind in KINDS})
    subscribed: bool = False


@dataclass
class _RoomPlacement:
    worker: WorkerProcess | None
    participants: dict[str, _ParticipantMedia] = field(default_factory=dict)


class MediaService:
    """Publish/subscribe media for room participants, served by media worker processes."""

    def __init__(self, settings: MediaSettings, on_event: OnEvent | None = None, clock: Clock | None = None,
                 log_format: LogFormat = LogFormat()) -> None:
        self.settings = settings
        self._log_format = log_format  # the workers log as the server does
        self._clock = clock or Clock()
        self._watchdog: asyncio.Task[None] | None = None
        self.on_event: OnEvent | None = on_event
        self._workers: list[WorkerProcess] = []
        self._rooms: dict[str, _RoomPlacement] = {}
        self._next_index = 0
        self._running = False
        self._replacing: set[asyncio.Task[None]] = set()
        self._event_tasks: set[asyncio.Task[None]] = set()
        self._exit_reports: set[asyncio.Task[None]] = set()
        self._worker_available = asyncio.Event()
        # survives re-publishing and worker restarts; the core tells us only on toggles
        self._muted: dict[tuple[str, str], dict[str, bool]] = {}
        self.workers_restarted = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker processes; raises if any fails its start-up self-test."""
        if self._running or not self.settings.enabled:
            return
        self._running = True
        try:
            await asyncio.gather(*(self._spawn() for _ in range(self.settings.worker_count())))
        except BaseException:
            await self.stop()
            raise
        self._watchdog = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        """Close every room and stop every worker."""
        self._running = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        workers, self._workers = self._workers, []
        await asyncio.gather(*(w.stop() for w in workers), *self._exit_reports, return_exceptions=True)
        self._rooms.clear()
        self._muted.clear()
        self._worker_available.clear()
        if self._event_tasks:
            await asyncio.gather(*self._event_tasks, return_exceptions=True)

    async def _spawn(self) -> WorkerProcess:
        index = self._next_index
        self._next_index += 1
        process = WorkerProcess(index, self.settings, self._worker_event, self._worker_exited,
                                self._log_format)
        await process.start()
        if not self._running:
            await process.stop()
            raise MediaUnavailable("media service stopped")
        self._workers.append(process)
        self._worker_available.set()
        logger.info("media worker %d started (pid %s)", index, process.pid)
        return process

    # --- the interface for the signalling side ---------------------------------------------------

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        """Answer a participant's publish offer (a new offer replaces their previous connection)."""
        muted = [kind for kind, on in self._muted.get((room_id, participant_id), {}).items() if on]
        result = await self._call(room_id, "publish", participant=participant_id, sdp=offer_sdp, muted=muted)
        placement = self._rooms.get(room_id)
        if placement is not None:
            media = placement.participants.setdefault(participant_id, _ParticipantMedia())
            media.kinds = list(result["kinds"])
            media.muted.update({kind: True for kind in muted})
        return result["sdp"]

    async def subscribe(self, room_id: str, participant_id: str) -> dict[str, Any] | None:
        """Open the participant's subscribe connection.

        Returns the `media-offer` payload `{type, sdp, offerId, tracks}` to send to the client,
        or None when nobody publishes yet (the offer then arrives later as a `media-offer` event).
        """
        offer = await self._call(room_id, "subscribe", participant=participant_id)
        placement = self._rooms.get(room_id)
        if placement is not None:
            placement.participants.setdefault(participant_id, _ParticipantMedia()).subscribed = True
        return offer

    async def subscriber_answer(
        self, room_id: str, participant_id: str, answer_sdp: str, offer_id: int | None = None
    ) -> None:
        """Apply the client's answer to the latest `media-offer` (offer_id guards against stale ones)."""
        await self._call(room_id, "answer", participant=participant_id, sdp=answer_sdp, offer_id=offer_id)

    async def set_muted(self, room_id: str, participant_id: str, kind: str, muted: bool) -> None:
        """Stop (muted=True) or resume forwarding a participant's audio or video."""
        if kind not in KINDS:
            raise MediaError(f"unknown media kind {kind!r}")
        self._muted.setdefault((room_id, participant_id), {})[kind] = muted
        placement = self._rooms.get(room_id)
        media = placement.participants.get(participant_id) if placement is not None else None
        if placement is None or placement.worker is None or media is None:
            return  # not publishing yet: applied when the participant publishes
        media.muted[kind] = muted
        await self._call(room_id, "mute", participant=participant_id, kind=kind, muted=muted)

    async def close_participant(self, room_id: str, participant_id: str) -> None:
        """Close a participant's connections and remove their tracks from everyone; idempotent."""
        self._muted.pop((room_id, participant_id), None)
        placement = self._rooms.get(room_id)
        if placement is None:
            return
        placement.participants.pop(participant_id, None)
        if placement.worker is not None and placement.worker.alive:
            try:
                await placement.worker.request("close_participant", room=room_id, participant=participant_id)
            except WorkerDied:
                pass
        if not placement.participants and self._rooms.get(room_id) is placement:
            self._release(room_id)

    def room_media(self, room_id: str) -> list[dict[str, Any]]:
        """Published media in a room: [{participantId, kind, muted}] (no worker round trip)."""
        placement = self._rooms.get(room_id)
        if placement is None:
            return []
        return [
            {"participantId": participant_id, "kind": kind, "muted": media.muted[kind]}
            for participant_id, media in placement.participants.items()
            for kind in media.kinds
        ]

    def client_config(self) -> dict[str, Any]:
        """What a browser needs before creating its peer connections."""
        return {"iceServers": self.settings.client_ice_servers(), "bundlePolicy": "max-bundle"}

    async def stats(self) -> dict[str, Any]:
        """Totals over all workers (peer connections, sockets, tracks, tasks, CPU, packets)."""
        workers = []
        for process in list(self._workers):
            if not process.alive:
                continue
            try:
                workers.append(await process.request("stats"))
            except MediaError:
                continue
        totals = {
            key: sum(w[key] for w in workers)
            for key in ("peerConnections", "udpSockets", "muxConnections", "muxRoutes", "upTracks", "downTracks", "tasks",
                        "cpuSeconds", "cpuUserSeconds")
        }
        totals["packetsForwarded"] = sum(w["counters"]["forwarded"] for w in workers)
        totals["retransmits"] = sum(w["counters"]["retransmits"] for w in workers)
        totals["rooms"] = len(self._rooms)
        totals["workers"] = workers
        totals["workersRestarted"] = self.workers_restarted
        return totals

    def has_room(self, room_id: str) -> bool:
        """Whether this service holds media for the room (placed, with participants)."""
        return room_id in self._rooms

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.alive and w.pid is not None]

    def worker_of(self, room_id: str) -> int | None:
        """Pid of the worker serving a room (for operators and tests)."""
        placement = self._rooms.get(room_id)
        if placement is None or placement.worker is None:
            return None
        return placement.worker.pid

    # --- placement --------------------------------------------------------------------------------

    async def _call(self, room_id: str, op: str, **args: Any) -> Any:
        if not self._running:
            raise MediaUnavailable("media service is not running")
        placement = await self._place(room_id)
        worker = placement.worker
        assert worker is not None
        return await worker.request(op, room=room_id, **args)

    async def _place(self, room_id: str) -> _RoomPlacement:
        placement = self._rooms.get(room_id)
        if placement is not None and placement.worker is not None and placement.worker.alive:
            return placement
        worker = await self._least_loaded()
        placement = self._rooms.get(room_id)  # may have been placed while we waited
        if placement is None:
            placement = self._rooms[room_id] = _RoomPlacement(worker=None)
        if placement.worker is None or not placement.worker.alive:
            placement.worker = worker
            worker.rooms.add(room_id)
        return placement

    async def _least_loaded(self) -> WorkerProcess:
        while True:
            live = [w for w in self._workers if w.alive]
            if live:
                return min(live, key=lambda w: len(w.rooms))
            if not self._running:
                raise MediaUnavailable("media service is not running")
            self._worker_available.clear()
            try:
                await asyncio.wait_for(self._worker_available.wait(), self.settings.worker_start_timeout_s)
            except asyncio.TimeoutError:
                raise MediaUnavailable("no media worker available") from None

    def _release(self, room_id: str) -> None:
        placement = self._rooms.pop(room_id, None)
        if placement is not None and placement.worker is not None:
            placement.worker.rooms.discard(room_id)

    # --- worker events and failures -------------------------------------------------------------

    def _worker_event(self, process: WorkerProcess, message: dict[str, Any]) -> None:
        self._emit(message["room"], message["participant"], message["event"], message["payload"])

    def _emit(self, room_id: str, participant_id: str | None, event: str, payload: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        task = asyncio.ensure_future(self._deliver(room_id, participant_id, event, payload))
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)

    async def _deliver(self, room_id: str, participant_id: str | None, event: str, payload: dict[str, Any]) -> None:
        try:
            assert self.on_event is not None
            await self.on_event(room_id, participant_id, event, payload)
        except Exception:
            logger.exception("media event handler failed for %s", event)

    def _worker_exited(self, process: WorkerProcess) -> None:
        """A worker died: free its rooms, tell their clients to reconnect, start a replacement."""
        if process in self._workers:
            self._workers.remove(process)
        if process.exit_report is not None:  # stop() waits for it: no task outlives the service
            self._exit_reports.add(process.exit_report)
            process.exit_report.add_done_callback(self._exit_reports.discard)
        self.workers_restarted += 1
        rooms = sorted(process.rooms)
        process.rooms.clear()
        for room_id in rooms:
            placement = self._rooms.get(room_id)
            if placement is None or placement.worker is not process:
                continue
            # media state died with the worker; the room is placed again on its next call
            placement.worker = None
            placement.participants.clear()
            del self._rooms[room_id]
            self._emit(room_id, None, "media-reconnect", {"reason": "media-worker-restarted"})
        if self._running:
            task = asyncio.ensure_future(self._replace())
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    async def _watch(self) -> None:
        """Ping every worker; one that hangs is killed, which the death handling then covers."""
        while self._running:
            await self._clock.sleep(self.settings.worker_ping_interval_s)
            await asyncio.gather(*(w.ping() for w in list(self._workers) if w.alive))

    async def _replace(self) -> None:
        try:
            await self._spawn()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not start a replacement media worker")
