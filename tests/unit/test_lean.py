"""publicrooms.lean: the queue and event every connection has behave as asyncio's do for the
operations their users call, and hold nothing once empty."""

from __future__ import annotations

import asyncio

import pytest

from publicrooms.lean import Deadlines, LeanEvent, LeanQueue


async def test_the_queue_is_fifo_and_a_getter_waits_for_the_next_item() -> None:
    queue = LeanQueue()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    await queue.put("a")
    queue.put_nowait("b")
    assert await getter == "a"
    assert queue.qsize() == 1 and queue.get_nowait() == "b"
    assert queue.empty() and queue._items is None and queue._getters is None


async def test_a_cancelled_getter_passes_its_item_to_the_next() -> None:
    queue = LeanQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("x")   # wakes the first getter ...
    first.cancel()          # ... which is cancelled before it runs
    assert await second == "x"
    assert first.cancelled()


async def test_join_waits_until_every_item_is_done() -> None:
    queue = LeanQueue()
    await queue.join()  # nothing unfinished
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        queue.task_done()


async def test_the_event_wakes_every_waiter_and_stays_set_until_cleared() -> None:
    event = LeanEvent()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert event.is_set() and await event.wait()
    event.clear()
    assert not event.is_set()
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert event._waiters is None


class Due:
    def __init__(self, name: str, seen: list, fail: bool = False) -> None:
        self.name, self.seen, self.fail = name, seen, fail

    def deadline_due(self) -> None:
        self.seen.append((self.name, asyncio.get_running_loop().time()))
        if self.fail:
            raise RuntimeError("callback failed")


async def test_deadlines_are_never_early_at_most_a_tick_late_in_order_and_cancellable() -> None:
    deadlines, seen = Deadlines(tick_s=0.02), []
    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda _, context: errors.append(context["exception"]))
    start = loop.time()
    items = {name: Due(name, seen, fail=name == "b") for name in "abcd"}
    deadlines.arm(items["a"], 0.05)
    deadlines.arm(items["b"], 0.05)  # fails: the rest are still told
    cancelled = deadlines.arm(items["c"], 0.05)
    deadlines.arm(items["d"], 0.12)
    deadlines.cancel(items["c"], cancelled)
    assert deadlines.pending() == 3
    done = asyncio.Event()
    loop.call_later(0.3, done.set)
    await done.wait()
    assert [name for name, _ in seen] == ["a", "b", "d"]
    for name, at in seen:
        delay = 0.05 if name != "d" else 0.12
        assert delay - 0.001 <= at - start <= delay + 0.02 + 0.1, (name, at - start)
    assert [str(e) for e in errors] == ["callback failed"]
    assert deadlines.pending() == 0
