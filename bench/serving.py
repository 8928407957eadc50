"""What the bench scripts share about the server they start."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


async def delete_prefix(redis, prefix: str) -> int:  # noqa: ANN001 - a redis.asyncio client
    """Delete every key under `prefix` (what a Redis-mode bench server left); how many."""
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 500):
        await redis.unlink(*keys[start:start + 500])
    return len(keys)
