"""A bounded number of holders at once; the others wait their turn, in arrival order."""

from __future__ import annotations

import asyncio


class Gate:
    """`async with gate:` lets at most `limit` through at once.

    A burst of joins (a class arriving, a reconnect storm) all started at once advance in
    step: each one's database work is grouped with everyone else's and the first
    acknowledgement leaves only when nearly all are done, seconds in. Through the gate they go
    in waves, so acknowledgements flow while the rest are served, and each wave's statements
    still share their commits. Uncontended, entering costs no turn of the loop.
    """

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self.waiting = 0  # callers waiting for a slot
        self.inside = 0   # callers holding one

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.inside += 1

    async def __aexit__(self, *exc_info: object) -> None:
        self.inside -= 1
        self._slots.release()
