"""A real uvicorn server on an ephemeral port, in its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from publicrooms.app import PublicRooms, create_app
from publicrooms.cli import GracefulServer, uvicorn_config
from publicrooms.clock import Clock
from publicrooms.settings import Settings

T = TypeVar("T")


class LiveServer:
    """Starts create_app(settings, clock) under uvicorn; `url` is where clients connect."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.app: PublicRooms = create_app(settings, clock)
        self._server = GracefulServer(uvicorn_config(self.app.asgi, settings, port=0,
                                                     host="127.0.0.1", log_level="warning"),
                                      self.app.drain)
        self._server.install_signal_handlers = lambda: None  # not the main thread
        self._thread = threading.Thread(target=self._server.run, name="live-server", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def start(self, timeout_s: float = 30) -> LiveServer:
        original_startup = self._server.startup

        async def startup(*args: Any, **kwargs: Any) -> None:
            self.loop = asyncio.get_running_loop()
            await original_startup(*args, **kwargs)

        self._server.startup = startup
        self._thread.start()
        done = threading.Event()

        def wait() -> None:
            while not self._server.started and self._thread.is_alive():
                done.wait(0.02)

        wait()
        if not self._server.started:
            raise RuntimeError("the live server did not start")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def nodes(self) -> list[LiveServer]:
        """The nodes behind this server: just itself (a Cluster has several)."""
        return [self]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 30) -> T:
        """Run a coroutine on the server's loop (to inspect or drive server state) and wait."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout_s)

    async def acall(self, factory: Callable[[], Coroutine[Any, Any, T]],
                    timeout_s: float = 30) -> T:
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(factory(), self.loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)

    async def query(self, fn: Callable[[PublicRooms], Coroutine[Any, Any, T]]) -> T:
        """Read (or drive) server state on the server's loop: `await server.query(f)`."""
        return await self.acall(lambda: fn(self.app))

    def stop(self, timeout_s: float = 30) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():  # it would go on running its jobs after the test
            raise RuntimeError(f"the live server on port {self.port} did not stop in {timeout_s} s;"
                               f" its tasks:\n{self._tasks_report()}")

    def _tasks_report(self) -> str:
        """Where each task of the server's loop waits (read from another thread: a best effort)."""
        import sys
        import traceback

        lines = []
        frame = sys._current_frames().get(self._thread.ident or 0)
        if frame is not None:
            lines.append("thread: " + "".join(traceback.format_stack(frame)[-3:]))
        for task in list(asyncio.all_tasks(self.loop)) if self.loop is not None else []:
            where, awaiting = [], task.get_coro()
            while awaiting is not None:  # down the chain of awaits to where it waits
                frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
                if frame is None:
                    break
                where.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
                             f" {frame.f_code.co_name}")
                awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "gi_yieldfrom", None)
            lines.append(f"{task.get_name()}: {' -> '.join(where)}")
        return "\n".join(lines)


def stop_all(servers) -> None:  # noqa: ANN001
    """Stop every server (or cluster), even when one of them fails to stop; then say which did."""
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as error:  # noqa: BLE001
            errors.append(error)
    if errors:
        raise errors[0]


async def advance(server: LiveServer, clock, seconds: float) -> None:  # noqa: ANN001
    """Move a FakeClock forward on the server's own loop, so sleepers wake there safely."""

    async def step() -> None:
        clock.advance(seconds)

    await server.acall(step)
