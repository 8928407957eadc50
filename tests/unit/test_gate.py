"""The join gate: at most `limit` inside, the rest served in arrival order; a waiter that
gives up (cancelled) holds no slot."""

from __future__ import annotations

import asyncio

from publicrooms.services.gate import Gate


async def test_at_most_limit_inside_the_rest_in_arrival_order() -> None:
    gate, order, release = Gate(2), [], asyncio.Event()

    async def hold(name: str) -> None:
        async with gate:
            order.append(name)
            await release.wait()

    tasks = []
    for name in "abcde":
        tasks.append(asyncio.ensure_future(hold(name)))
        await asyncio.sleep(0)  # each arrives before the next
    assert (gate.inside, gate.waiting, order) == (2, 3, ["a", "b"])
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d", "e"]
    assert (gate.inside, gate.waiting) == (0, 0)


async def test_a_cancelled_waiter_holds_no_slot() -> None:
    gate, entered = Gate(1), asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate:
            entered.set()
            await release.wait()

    holder = asyncio.ensure_future(hold())
    await entered.wait()
    waiter = asyncio.ensure_future(hold())
    await asyncio.sleep(0)
    assert gate.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert (gate.inside, gate.waiting) == (1, 0)
    release.set()
    await holder
    entered.clear()
    late = asyncio.ensure_future(hold())
    await entered.wait()  # the slot came back: a later caller gets in
    await late
    assert (gate.inside, gate.waiting) == (0, 0)
