"""What the bench scripts share about the server they start."""

from __future__ import annotations

import asyncio

import aiohttp


async def wait_ready(url: str, attempts: int = 300, interval_s: float = 0.1) -> None:
    """Return once `url`/ready answers 200 (the server started by the bench is up)."""
    for _ in range(attempts):
        try:
            async with aiohttp.ClientSession() as probe, probe.get(url + "/ready") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(interval_s)
    raise RuntimeError(f"the server at {url} did not become ready")
