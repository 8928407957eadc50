"""The in-process rate window's direct count (`SweptMemoryStorage.take`) decides every hit as
limits' own moving window does, and reports the same window afterwards (the same count,
and the same start whenever the window holds anything)."""

from __future__ import annotations

import asyncio
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from limits.aio.storage import MemoryStorage

from publicrooms.security.ratelimit import SweptMemoryStorage

hits = st.lists(st.tuples(st.floats(min_value=0, max_value=30), st.sampled_from("abc")),
                max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=6), st.sampled_from([1, 10, 60]), hits)
def test_take_decides_as_limits_moving_window(limit: int, window_s: int,
                                              sequence: list[tuple[float, str]]) -> None:
    now = [1_000_000.0]
    ours, reference = SweptMemoryStorage(), MemoryStorage()

    async def run() -> None:
        for step, key in sequence:
            now[0] += step
            expected = await reference.acquire_entry(key, limit, window_s)
            assert ours.take(key, limit, window_s) == expected, (now[0], key)
            for k in "abc":
                start, count = await ours.get_moving_window(k, limit, window_s)
                ref_start, ref_count = await reference.get_moving_window(k, limit, window_s)
                assert count == ref_count
                if count:
                    assert start == ref_start
                else:  # an empty window's "start" is any old entry: its reset is past either way
                    assert max(start, ref_start) <= now[0] - window_s or start == ref_start == now[0]

    with mock.patch("time.time", lambda: now[0]):
        asyncio.run(run())
