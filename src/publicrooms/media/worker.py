"""Worker: the media side of one worker process. It owns whole rooms and all their RTP.

The signalling process talks to it through `protocol` messages on a pipe; see
`workerprocess.py` for the parent's end. `run()` is the process entry point.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from ..clock import Clock
from ..logging import LogFormat, configure_logging
from . import aiortc_adapter as adapter
from . import protocol
from .errors import MediaError, NotSubscribed
from .room import Room
from .settings import MediaSettings
from .stats import Counters

logger = logging.getLogger(__name__)

SendEvent = Callable[[str, str | None, str, dict[str, Any]], None]


class Worker:
    """Rooms of one worker process and the handlers for the parent's requests."""

    def __init__(self, settings: MediaSettings, send_event: SendEvent, clock: Clock | None = None) -> None:
        self._settings = settings
        self._send_event = send_event
        self._clock = clock or Clock()
        self._network = adapter.Network.from_settings(settings)
        self._rooms: dict[str, Room] = {}
        self.counters = Counters()
        self._ticker: asyncio.Task[None] | None = None
        self.service_tasks: set[asyncio.Task[Any]] = set()  # the process's own plumbing

    async def open_network(self, index: int) -> None:
        """Bind the worker's shared UDP port(s) (settings.udp_mux); raises OSError when it cannot."""
        if self._settings.udp_mux:
            self._network = await self._network.shared(self._settings.worker_udp_port(index), self._clock)
            self.service_tasks.update(mux.tcp.sweeper for mux in self._network.muxes if mux.tcp and mux.tcp.sweeper)

    def udp_ports(self) -> list[int]:
        return [mux.port for mux in self._network.muxes]

    def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick_loop())

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = Room(
                room_id,
                network=self._network,
                clock=self._clock,
                settings=self._settings,
                counters=self.counters,
                emit=lambda participant, event, payload: self._send_event(room_id, participant, event, payload),
            )
        return room

    async def _release_if_empty(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is not None and room.empty:
            del self._rooms[room_id]
            await room.close()

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        """Run one request from the signalling process."""
        handler = getattr(self, f"op_{op.replace('-', '_')}", None)
        if handler is None:
            raise MediaError(f"unknown media operation {op!r}")
        return await handler(**args)

    # --- operations (names match protocol.OPS) ---------------------------------------------

    async def op_publish(self, room: str, participant: str, sdp: str, muted: list[str]) -> dict[str, Any]:
        try:
            target = self._room(room)
            for kind in muted:
                target.set_muted(participant, kind, True)
            return await target.publish(participant, sdp)
        finally:
            await self._release_if_empty(room)

    async def op_subscribe(self, room: str, participant: str) -> dict[str, Any] | None:
        return await self._room(room).subscribe(participant)

    async def op_answer(self, room: str, participant: str, sdp: str, offer_id: int | None) -> None:
        target = self._rooms.get(room)
        if target is None:
            raise NotSubscribed(f"no media session in room {room}")
        await target.subscriber_answer(participant, sdp, offer_id)

    async def op_mute(self, room: str, participant: str, kind: str, muted: bool) -> None:
        target = self._rooms.get(room)
        if target is not None:
            target.set_muted(participant, kind, muted)

    async def op_close_participant(self, room: str, participant: str) -> None:
        target = self._rooms.get(room)
        if target is not None:
            await target.close_participant(participant)
            await self._release_if_empty(room)

    async def op_close_room(self, room: str) -> None:
        target = self._rooms.pop(room, None)
        if target is not None:
            await target.close()

    async def op_ping(self) -> None:
        return None

    async def op_stats(self) -> dict[str, Any]:
        rooms = {room_id: room.stats() for room_id, room in self._rooms.items()}
        times = os.times()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and t is not self._ticker and t not in self.service_tasks]
        return {
            "pid": os.getpid(),
            "rooms": rooms,
            "peerConnections": sum(r["peerConnections"] for r in rooms.values()),
            "udpSockets": sum(r["udpSockets"] for r in rooms.values()),
            "upTracks": sum(r["upTracks"] for r in rooms.values()),
            "downTracks": sum(r["downTracks"] for r in rooms.values()),
            # the ticker and this request are always there
            "tasks": len(tasks),
            "taskNames": sorted(t.get_coro().__qualname__ for t in tasks)[:20],
            # To the nanosecond (os.times() counts 10 ms ticks): user + system of all threads.
            "cpuSeconds": time.process_time(),
            "cpuUserSeconds": times.user,
            "nativeFastpath": adapter.native_in_use(),
            "udpPorts": self.udp_ports(),
            "muxConnections": sum(mux.connections() for mux in self._network.muxes),
            "muxRoutes": sum(mux.routes() for mux in self._network.muxes),
            "demuxHandled": sum(mux.handled()[0] for mux in self._network.muxes),
            "demuxForwarded": sum(mux.handled()[1] for mux in self._network.muxes),
            "tcpPorts": [mux.tcp.port for mux in self._network.muxes if mux.tcp],
            "tcpStreams": [list(mux.tcp.counts()) for mux in self._network.muxes if mux.tcp],
            "sendBatches": list(adapter.batch_stats()),
            "rtcpDirect": list(adapter.rtcp_stats()),
            "counters": self.counters.as_dict(),
        }

    async def _tick_loop(self) -> None:
        while True:
            await self._clock.sleep(self._settings.speaker_interval_s)
            for room in list(self._rooms.values()):
                try:
                    room.tick()
                except Exception:
                    logger.exception("speaker detection failed in %s", room.id)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for room_id in list(self._rooms):
            await self.op_close_room(room_id)
        self._network.close()


# --- process entry point -------------------------------------------------------------------


def run(conn: Connection, settings_json: str, index: int, log_format: LogFormat) -> None:
    """Entry point of a worker process (spawned; never forked from the signalling process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    faulthandler.enable()  # a crash in C (libsrtp, libvpx, OpenSSL) leaves a traceback in the log
    # the server's level and format (console or JSON lines), with the worker named on each line
    configure_logging(log_format.level, log_format.json_lines, media_worker=index)
    settings = MediaSettings.model_validate_json(settings_json)
    _stop_on_term_unless_parent_does(settings.worker_ping_timeout_s)
    run_loop = _loop_runner(settings.event_loop)
    if not settings.profile_dir:
        run_loop(_serve(conn, settings, index))
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run_loop(_serve(conn, settings, index))
    finally:
        profiler.disable()
        profiler.dump_stats(os.path.join(settings.profile_dir, f"worker-{index}-{os.getpid()}.prof"))


def _stop_on_term_unless_parent_does(grace_s: float) -> None:
    """A stop signal sent to the whole process group reaches the signalling process too, which
    then stops this worker in its shutdown (a clean exit, not a crash). Only if it has not
    done so within `grace_s` does the worker end by itself (an orphan, a stuck parent)."""

    def on_term(_signum: int, _frame: object) -> None:
        timer = threading.Timer(grace_s, os._exit, args=(0,))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_term)


def _loop_runner(name: str) -> Callable[[Any], None]:
    """uvloop wakes up per datagram for a fraction of asyncio's cost; the worker is all datagrams."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            logger.warning("uvloop is not installed; media worker uses the asyncio event loop")
        else:
            return uvloop.run
    return asyncio.run


async def _serve(conn: Connection, settings: MediaSettings, index: int = 0) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    def send(message: dict[str, Any]) -> None:
        try:
            conn.send(message)
        except (OSError, EOFError):
            if not done.done():
                done.set_result(None)

    def send_event(room: str, participant: str | None, event: str, payload: dict[str, Any]) -> None:
        send(protocol.event(room, participant, event, payload))

    if not adapter.use_native(settings.native_fastpath) and settings.native_fastpath:
        logger.warning("media fast path not built (publicrooms.media._fastpath); using the Python path")
    try:
        await adapter.self_test()
    except Exception as exc:
        send(protocol.fatal(f"{type(exc).__name__}: {exc}"))
        return
    worker = Worker(settings, send_event)
    try:
        await worker.open_network(index)
    except OSError as exc:
        send(protocol.fatal(f"media UDP port: {exc}"))
        return
    logger.info("media worker ready (pid %d, %s path, %s loop, UDP %s)", os.getpid(),
                "compiled" if adapter.native_in_use() else "Python", type(loop).__module__.split(".")[0],
                worker.udp_ports() or "port per connection")
    worker.service_tasks.add(asyncio.current_task())  # type: ignore[arg-type]
    worker.start()
    # everything allocated so far lives as long as the process: out of the collector's sight,
    # so the collections that per-connection objects still trigger stay short
    gc.collect()
    gc.freeze()

    async def serve_request(message: dict[str, Any]) -> None:
        request_id = message["id"]
        if message["op"] == "shutdown":
            await worker.close()
            send(protocol.reply(request_id, None))
            if not done.done():
                done.set_result(None)
            return
        try:
            result = await worker.handle(message["op"], message.get("args", {}))
        except MediaError as exc:
            send(protocol.failure(request_id, type(exc).__name__, str(exc)))
        except Exception as exc:  # never let one bad request kill the worker
            logger.exception("media operation %s failed", message["op"])
            send(protocol.failure(request_id, "MediaError", f"internal media error: {type(exc).__name__}"))
        else:
            send(protocol.reply(request_id, result))

    def received(message: dict[str, Any]) -> None:
        task = asyncio.ensure_future(serve_request(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def parent_gone() -> None:
        if not done.done():
            done.set_result(None)

    # a thread reads the pipe: with uvloop, add_reader would make the descriptor non-blocking
    # and a large message could not be received in one piece (see workerprocess.py)
    reader = threading.Thread(target=_read_messages, args=(conn, loop, received, parent_gone), daemon=True)
    reader.start()
    send(protocol.ready(os.getpid()))
    try:
        await done
    finally:
        await worker.close()
        conn.close()


def _read_messages(conn: Connection, loop: asyncio.AbstractEventLoop, received: Callable[..., None],
                   gone: Callable[[], None]) -> None:
    try:
        while True:
            loop.call_soon_threadsafe(received, conn.recv())
    except (EOFError, OSError):
        pass
    try:
        loop.call_soon_threadsafe(gone)
    except RuntimeError:
        pass  # the loop already ended
