"""A queue, an event and timers for objects every connection has, without asyncio's fixed cost.

An `asyncio.Queue` makes three deques and an Event (a fourth deque) up front, ~3 kB, and an
`asyncio.Event` one deque (~0.8 kB), whether anything ever waits or not. Each WebSocket has
two such queues (uvicorn's receive queue, Engine.IO's send queue) and two events: with
thousands of idle lobby connections that was a fifth of the server's memory per connection.
These do the same for the operations those callers use, and hold nothing while empty:
items and waiters live in containers made on first use and dropped when they empty.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class LeanQueue:
    """An unbounded FIFO with asyncio.Queue's interface (`put`, `put_nowait`, `get`,
    `get_nowait`, `task_done`, `join`, `qsize`, `empty`)."""

    __slots__ = ("_items", "_getters", "_unfinished", "_joiners")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._getters: list[asyncio.Future] | None = None
        self._unfinished = 0
        self._joiners: list[asyncio.Future] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def empty(self) -> bool:
        return self._items is None

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self._unfinished += 1
        self._wake_getter()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        items = self._items
        if items is None:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None
        return item

    async def get(self) -> Any:
        while self._items is None:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                self._forget_getter(getter)
                if self._items is not None and not getter.cancelled():
                    self._wake_getter()  # it was woken but will not take the item
                raise
            self._forget_getter(getter)
        return self.get_nowait()

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished > 0:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner

    def _wake_getter(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not getters:
            self._getters = None

    def _forget_getter(self, getter: asyncio.Future) -> None:
        getters = self._getters
        if getters is not None:
            try:
                getters.remove(getter)
            except ValueError:
                pass
            if not getters:
                self._getters = None


class LeanEvent:
    """asyncio.Event's interface (`set`, `clear`, `is_set`, `wait`); waiters on first use."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if self._flag:
            return
        self._flag = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._flag = False

    async def wait(self) -> bool:
        if self._flag:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
                if not self._waiters:
                    self._waiters = None


def settle(done: asyncio.Future, error: BaseException | None) -> None:
    """Give `done` its outcome (None, or `error` raised to whoever awaits it) unless it has one
    already (it was cancelled, or settled before)."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class Deadlines:
    """Deadlines for many objects on one loop timer per `tick_s`, instead of a timer handle
    (with its context and bound callback, ~0.5 kB) per object: each idle connection's
    heartbeat is one entry in a slot. An object due is told by `item.deadline_due()`, at the
    end of the tick its deadline falls in (never early, at most `tick_s` late), in the order
    the deadlines of a tick were set."""

    __slots__ = ("_tick_s", "_slots")

    def __init__(self, tick_s: float = 0.05) -> None:
        self._tick_s = tick_s
        self._slots: dict[int, dict[Any, None]] = {}

    def arm(self, item: Any, delay: float) -> int:
        """Tell `item` in `delay` seconds; returns the slot to `cancel` it from."""
        loop = asyncio.get_running_loop()
        key = -int(-(loop.time() + delay) // self._tick_s)  # the end of its tick
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = {}
            loop.call_at(key * self._tick_s, self._due, key)
        slot[item] = None
        return key

    def cancel(self, item: Any, key: int) -> None:
        slot = self._slots.get(key)
        if slot is not None:
            slot.pop(item, None)

    def pending(self) -> int:
        return sum(map(len, self._slots.values()))

    def _due(self, key: int) -> None:
        for item in self._slots.pop(key, ()):
            try:
                item.deadline_due()
            except Exception as exc:  # noqa: BLE001 - one item's failure must not skip the others
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "deadline callback failed", "exception": exc})
