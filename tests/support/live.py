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

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)


async def advance(server: LiveServer, clock, seconds: float) -> None:  # noqa: ANN001
    """Move a FakeClock forward on the server's own loop, so sleepers wake there safely."""

    async def step() -> None:
        clock.advance(seconds)

    await server.acall(step)
