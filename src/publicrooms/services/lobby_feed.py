"""Lobby updates paced per room: a burst of seat changes reaches the lobby as one update.

Every lobby viewer gets every update, so one seat change costs one send per viewer (10 000
viewers, three events: 30 000 frames). When many people join at once, the updates of one room
are merged: the lobby shows current counts, not each step that led to them. The updates that
one change makes (a room's card and the system's totals) go out together, as one broadcast:
one pass over the viewers, one write to each.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, NamedTuple

logger = logging.getLogger(__name__)

Events = list[tuple[str, dict[str, Any]]]
# What a key's update is made of, read when it is sent; gets the union of the merged flags.
Build = Callable[[frozenset[str]], Awaitable[Events]]
Emit = Callable[[Events], Awaitable[None]]


class Change(NamedTuple):
    key: str      # what changed: a room ("room:<id>") or the system ("system")
    build: Build
    flag: str = ""


class _Window:
    __slots__ = ("build", "flags")

    def __init__(self) -> None:
        self.build: Build | None = None
        self.flags: set[str] = set()


class LobbyFeed:
    """Sends the lobby update of a key (a room, the system) at most once per `window_s`.

    The first change of a quiet key is sent at once. Changes made while that send is under
    way or within `window_s` after it are merged into one more send at the end of the window,
    which reads the state as it is then: a viewer sees the counts in the order they happened
    and ends on the current one, only intermediate steps of a burst are skipped. A build gets
    the union of the merged changes' `flag`s. `window_s=0` sends every change.

    The changes given to one `changed` call that are due together are sent together, in the
    order given, as one `emit`: at once, and again at the end of the window they opened.

    The window paces real sends (the loop's own time, not the injectable clock): it bounds
    work per second, and a test on a fake clock must still see its updates.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._open: dict[str, _Window] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def changed(self, emit: Emit, *changes: Change) -> None:
        if self._window_s <= 0:
            await emit(await _gather([(c.build, frozenset((c.flag,))) for c in changes]))
            return
        now: list[tuple[Build, frozenset[str]]] = []
        opened: list[str] = []
        for change in changes:
            window = self._open.get(change.key)
            if window is not None:
                window.build = change.build  # every send of a key reads the same current state
                window.flags.add(change.flag)
                continue
            self._open[change.key] = _Window()
            opened.append(change.key)
            now.append((change.build, frozenset((change.flag,))))
        if not now:
            return
        try:
            await emit(await _gather(now))
        finally:
            task = asyncio.get_running_loop().create_task(self._close_windows(opened, emit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _close_windows(self, keys: list[str], emit: Emit) -> None:
        while keys:
            await asyncio.sleep(self._window_s)
            due: list[tuple[Build, frozenset[str]]] = []
            still: list[str] = []
            for key in keys:
                window = self._open[key]
                if window.build is None:
                    del self._open[key]
                    continue
                due.append((window.build, frozenset(window.flags)))
                window.build, window.flags = None, set()
                still.append(key)
            keys = still
            if not due:
                return
            try:
                await emit(await _gather(due))
            except Exception:  # a lost lobby update: the next change sends the current state
                logger.exception("merged lobby update for %s failed", ", ".join(keys))

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


async def _gather(due: list[tuple[Build, frozenset[str]]]) -> Events:
    events: Events = []
    for build, flags in due:
        events.extend(await build(flags))
    return events
