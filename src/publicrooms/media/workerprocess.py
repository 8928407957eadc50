"""WorkerProcess: the signalling process's end of one media worker process.

Workers are started with the "spawn" (or "forkserver") context: the signalling process runs an
event loop and server threads, which a fork would copy in an inconsistent state.

The pipe is read by a small thread, not with `loop.add_reader`: uvloop (libuv) switches a
watched descriptor to non-blocking mode, and `Connection.recv()` then fails half-way through
any message larger than the pipe buffer (a subscribe SDP for a full room is).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
from typing import Any, Callable

from ..logging import LogFormat
from . import protocol, worker
from .errors import BY_NAME, MediaError, WorkerDied, WorkerTimeout
from .settings import MediaSettings

logger = logging.getLogger(__name__)

OnEvent = Callable[["WorkerProcess", dict[str, Any]], None]
OnExit = Callable[["WorkerProcess"], None]


class WorkerProcess:
    """Starts, talks to and stops one media worker; reports its death."""

    def __init__(self, index: int, settings: MediaSettings, on_event: OnEvent, on_exit: OnExit,
                 log_format: LogFormat = LogFormat()) -> None:
        self.index = index
        self._settings = settings
        self._log_format = log_format
        self._on_event = on_event
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ready: asyncio.Future[int] | None = None
        self._conn: Any = None
        self._reader: threading.Thread | None = None
        self.process: Any = None
        self.alive = False
        self._stopping = False
        self.exit_report: asyncio.Task[None] | None = None  # logging an unexpected death
        self.rooms: set[str] = set()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        """Spawn the process and wait until its adapter self-test passed."""
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context(self._settings.worker_start_method)
        self._conn, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=worker.run,
            args=(child, self._settings.model_dump_json(), self.index, self._log_format),
            name=f"publicrooms-media-{self.index}",
            # never outlive the signalling process; a daemonic parent (some process managers)
            # may not have daemonic children, and there the closed pipe still ends the worker
            daemon=not multiprocessing.current_process().daemon,
        )
        self._ready = loop.create_future()
        await loop.run_in_executor(None, self.process.start)
        child.close()
        self.alive = True
        self._reader = threading.Thread(
            target=_read_messages, args=(self._conn, loop, self._dispatch, self._lost),
            name=f"media-worker-{self.index}-pipe", daemon=True,
        )
        self._reader.start()
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self._settings.worker_start_timeout_s)
        except asyncio.TimeoutError:
            await self.kill()
            raise WorkerTimeout(f"media worker {self.index} did not start") from None
        except BaseException:
            await self.kill()
            raise

    async def ping(self) -> bool:
        """True when the worker answered in time; a hung worker is killed (and reported as dead)."""
        try:
            await self.request("ping", timeout_s=self._settings.worker_ping_timeout_s)
            return True
        except WorkerTimeout:
            logger.error("media worker %d (pid %s) is not responding: killing it", self.index, self.pid)
            if self.process is not None and self.process.is_alive():
                self.process.kill()  # the pipe closes, and _lost() reports the death
            return False
        except MediaError:
            return False

    async def request(self, op: str, timeout_s: float | None = None, **args: Any) -> Any:
        """Send one operation and wait for its result; raises the worker's MediaError."""
        if not self.alive:
            raise WorkerDied(f"media worker {self.index} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self._conn.send(protocol.request(request_id, op, args))
            return await asyncio.wait_for(future, timeout_s or self._settings.request_timeout_s)
        except asyncio.TimeoutError:  # before OSError: TimeoutError is one of its subclasses
            raise WorkerTimeout(f"media worker {self.index} did not answer {op}") from None
        except (OSError, EOFError):
            raise WorkerDied(f"media worker {self.index} is gone") from None
        finally:
            self._pending.pop(request_id, None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.get(message["id"])
            if future is None or future.done():
                return
            if message["ok"]:
                future.set_result(message["result"])
            else:
                error = BY_NAME.get(message["error"], MediaError)
                future.set_exception(error(message["message"]))
        elif "event" in message:
            self._on_event(self, message)
        elif "ready" in message:
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(message["ready"])
        elif "fatal" in message:
            logger.error("media worker %d failed to start: %s", self.index, message["fatal"])
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(MediaError(f"media worker failed to start: {message['fatal']}"))

    def _lost(self) -> None:
        """The pipe closed: the process exited or was killed."""
        if not self.alive:
            return
        self.alive = False
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerDied(f"media worker {self.index} died"))
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(WorkerDied(f"media worker {self.index} died while starting"))
        if not self._stopping:
            self.exit_report = asyncio.ensure_future(self._report_exit())
            self._on_exit(self)

    async def _report_exit(self) -> None:
        """Reap the process and log how it ended (a negative code is the signal that killed it)."""
        # A killed process can take seconds to be torn down on a busy machine: wait long enough
        # to report its real exit code (a bounded wait; stopping waits for this report).
        await _join(self.process, 30.0)
        logger.error("media worker %d (pid %s) died, exit code %s", self.index, self.pid, self.process.exitcode)

    async def stop(self) -> None:
        """Ask the worker to close its rooms and exit; kill it if it does not."""
        self._stopping = True
        if self.alive:
            try:
                await asyncio.wait_for(self.request("shutdown"), 5.0)
            except (MediaError, asyncio.TimeoutError):
                pass
        await self.kill()

    async def kill(self) -> None:
        self._stopping = True
        if self.exit_report is not None:  # a death being reported: stopping waits for it
            await asyncio.gather(self.exit_report, return_exceptions=True)
        if self.process is None:
            return
        await _join(self.process, 5.0)
        if self.process.is_alive():
            self.process.kill()
            await _join(self.process, 5.0)
        self.alive = False
        if self._reader is not None:  # the process is gone, so the pipe reports end of file
            await _until(lambda: not self._reader.is_alive(), 5.0)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerDied(f"media worker {self.index} stopped"))
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _read_messages(
    conn: Any, loop: asyncio.AbstractEventLoop, dispatch: Callable[[Any], None], lost: Callable[[], None]
) -> None:
    """Pipe reader thread: hands each message to the event loop; reports end of file once."""
    try:
        while True:
            message = conn.recv()
            loop.call_soon_threadsafe(dispatch, message)
    except (EOFError, OSError):
        pass
    except Exception:
        logger.exception("media worker pipe reader failed")
    try:
        loop.call_soon_threadsafe(lost)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting any more


async def _join(process: Any, timeout_s: float) -> None:
    """Wait up to `timeout_s` for the process to end and be reaped (`exitcode` polls waitpid)."""
    await _until(lambda: process.exitcode is not None, timeout_s)


async def _until(done: Callable[[], bool], timeout_s: float) -> None:
    """Poll `done` on the loop rather than join in its executor: a join there waited behind
    whatever else held the executor's threads, and an executor already shut down (the loop
    ending) could not take it at all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not done() and loop.time() < deadline:
        await asyncio.sleep(0.02)
