"""Lobby updates paced per room: a burst of seat changes reaches the lobby as one update.

Every lobby viewer gets every update, so one seat change costs one send per viewer (10 000
viewers, three events: 30 000 frames). When many people join at once, the updates of one room
are merged: the lobby shows current counts, not each step that led to them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

logger = logging.getLogger(__name__)

Send = Callable[[frozenset[str]], Awaitable[None]]


class _Window:
    __slots__ = ("send", "flags")

    def __init__(self) -> None:
        self.send: Send | None = None
        self.flags: set[str] = set()


class LobbyFeed:
    """Sends the lobby update of a key (a room, the system) at most once per `window_s`.

    The first change of a quiet key is sent at once. Changes made while that send is under
    way or within `window_s` after it are merged into one more send at the end of the window,
    which reads the state as it is then: a viewer sees the counts in the order they happened
    and ends on the current one, only intermediate steps of a burst are skipped. `send` gets
    the union of the merged changes' `flag`s. `window_s=0` sends every change.

    The window paces real sends (the loop's own time, not the injectable clock): it bounds
    work per second, and a test on a fake clock must still see its updates.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._open: dict[str, _Window] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def changed(self, key: str, send: Send, flag: str = "") -> None:
        if self._window_s <= 0:
            await send(frozenset((flag,)))
            return
        window = self._open.get(key)
        if window is not None:
            window.send = send  # every send of a key reads the same current state
            window.flags.add(flag)
            return
        self._open[key] = _Window()
        try:
            await send(frozenset((flag,)))
        finally:
            task = asyncio.get_running_loop().create_task(self._close_window(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _close_window(self, key: str) -> None:
        while True:
            await asyncio.sleep(self._window_s)
            window = self._open[key]
            if window.send is None:
                del self._open[key]
                return
            send, flags = window.send, frozenset(window.flags)
            window.send, window.flags = None, set()
            try:
                await send(flags)
            except Exception:  # a lost lobby update: the next change sends the current state
                logger.exception("merged lobby update for %s failed", key)

    def pending(self) -> int:
        """Keys with a window open (for leak checks)."""
        return len(self._open)

    async def close(self) -> None:
        """Drop what is still waiting (the server is stopping: viewers are disconnected)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._open.clear()
