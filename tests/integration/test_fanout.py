"""The cross-node fan-out (state/redis/fanout.py) against a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from publicrooms.state.redis.fanout import IN_ORDER_HOST, RedisFanout
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.redis]


def fanout() -> RedisFanout:
    return RedisFanout(REDIS_URL, stream=f"test-fanout-{uuid.uuid4().hex}", backlog=100,
                       retry_s=0.1)


async def test_the_reader_ends_on_cancel_even_when_a_command_swallows_it() -> None:
    """redis-py's asyncio client can swallow a cancellation that lands inside a command; the
    reader must still end, or a node's shutdown waits on it forever."""
    manager = fanout()
    manager._redis_connect()
    reading = asyncio.Event()

    async def xread_swallowing_cancel(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        reading.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            pass  # what the client does: the cancel is lost
        return []

    manager.redis.xread = xread_swallowing_cancel

    async def read_all() -> None:
        async for _ in manager._listen():
            pass

    task = asyncio.create_task(read_all())
    await reading.wait()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    stuck = not task.done()
    manager.redis.xread = None  # a reader left running (the bug) fails at once and stops
    assert not stuck, "the reader went on after its cancel was swallowed"
    assert task.cancelled()
    await manager.redis.aclose()


async def test_an_in_order_emit_reaches_this_node_through_the_stream() -> None:
    """In-order emits are not delivered on the sending node at once: it reads them back from
    the stream like every other node, so all nodes deliver them in the stream's order (a
    batch of them appended in one round trip keeps its order, after what came before)."""
    manager = fanout()
    manager._redis_connect()
    manager.read_from = "0-0"
    handled: list[dict] = []

    async def handle(message: dict) -> None:
        handled.append(message)

    manager._handle_emit = handle
    await manager.emit_in_order([("new-message", {"n": 1}, "/public-room/x", "r")])
    await manager.emit_in_order([("new-message", {"n": n}, f"/public-room/{n % 2}", "r")
                                 for n in range(2, 6)])
    assert handled == [], "delivered at once on the sending node"
    messages = []
    async for payload in manager._listen():
        message = manager.json.loads(payload)
        assert message["host_id"] == IN_ORDER_HOST != manager.host_id
        messages.append((message["namespace"], message["data"]))
        if len(messages) == 5:
            break
    assert messages == [("/public-room/x", [{"n": 1}])] + [
        (f"/public-room/{n % 2}", [{"n": n}]) for n in range(2, 6)]
    await manager.redis.delete(manager.stream)
    await manager.redis.aclose()
