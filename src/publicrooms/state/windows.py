"""In-process bookkeeping shared by the memory stores: sliding windows and deadlines."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Hashable


def trim(window: deque[float] | list[float], cutoff: float) -> None:
    """Drop the window's times at or before `cutoff` (oldest first). A list (times in the
    order they were appended) is the smaller window for a few entries: a deque takes ~0.8 kB
    however few it holds."""
    if isinstance(window, list):
        del window[:bisect_right(window, cutoff)]
        return
    while window and window[0] <= cutoff:
        window.popleft()


def sweep_windows(windows: dict[str, deque[float]] | dict[str, list[float]], cutoff: float) -> int:
    """Trim every window; forget the empty ones. Returns how many were forgotten."""
    removed = 0
    for key, window in list(windows.items()):
        trim(window, cutoff)
        if not window:
            del windows[key]
            removed += 1
    return removed


def sweep_deadlines(deadlines: dict[Hashable, float], now: float) -> int:
    """Forget deadlines that have passed. Returns how many were forgotten."""
    ended = [key for key, until in deadlines.items() if until <= now]
    for key in ended:
        del deadlines[key]
    return len(ended)
