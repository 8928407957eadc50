"""Several live nodes linked by one Redis and one PostgreSQL database: one server to clients.

`Cluster` quacks like `LiveServer`: each read of `url` names the next node, so consecutive
clients land on different nodes; state queries run on the first node (state is shared).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from publicrooms.app import PublicRooms
from publicrooms.clock import Clock
from publicrooms.settings import Settings
from tests.support.live import LiveServer, stop_all

T = TypeVar("T")


class Cluster:
    def __init__(self, settings: list[Settings], clock: Clock | None = None) -> None:
        self.nodes = [LiveServer(s, clock) for s in settings]
        self.settings = settings[0]
        self._turn = itertools.count()

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        return self

    def _next(self) -> LiveServer:
        return self.nodes[next(self._turn) % len(self.nodes)]

    @property
    def url(self) -> str:
        return self._next().url

    def url_for(self, host: str) -> str:
        return self._next().url_for(host)

    @property
    def app(self) -> PublicRooms:
        return self.nodes[0].app

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self.nodes[0].loop

    def call(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 30) -> T:
        return self.nodes[0].call(factory, timeout_s)

    async def acall(self, factory: Callable[[], Coroutine[Any, Any, T]],
                    timeout_s: float = 30) -> T:
        return await self.nodes[0].acall(factory, timeout_s)

    async def query(self, fn: Callable[[PublicRooms], Coroutine[Any, Any, T]]) -> T:
        return await self.nodes[0].query(fn)

    async def each(self, fn: Callable[[PublicRooms], Coroutine[Any, Any, T]]) -> list[T]:
        """Run `fn(app)` on every node, on its own loop."""
        return [await node.query(fn) for node in self.nodes]

    def stop(self) -> None:
        stop_all(self.nodes)


async def delete_prefix(url: str, prefix: str) -> int:
    """Remove every key a test's cluster left under its prefix."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    deleted = 0
    try:
        batch = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(batch), 500):
            deleted += await client.delete(*batch[start:start + 500])
    finally:
        await client.aclose()
    return deleted
