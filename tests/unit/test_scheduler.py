"""The periodic-job scheduler: runs at start, then every interval; survives errors; stops."""

from __future__ import annotations

import asyncio

from publicrooms.clock import FakeClock
from publicrooms.services.scheduler import Scheduler


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_job_runs_at_start_then_each_interval_and_survives_errors(logs) -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock)
    calls: list[float] = []

    async def flaky() -> int:
        calls.append(clock.time())
        if len(calls) == 2:
            raise RuntimeError("sweep broke")
        return len(calls)

    job = scheduler.add("sweep", 30, flaky)
    scheduler.start()
    await settle()
    assert len(calls) == 1 and scheduler.running  # once immediately at start
    clock.advance(29)
    await settle()
    assert len(calls) == 1
    clock.advance(1)
    await settle()
    assert len(calls) == 2 and job.failures == 1  # raised, and the loop goes on
    clock.advance(30)
    await settle()
    assert len(calls) == 3
    await scheduler.stop()
    assert not scheduler.running
    clock.advance(300)
    await settle()
    assert len(calls) == 3
    events = [entry["event"] for entry in logs]
    assert "scheduler started" in events and "scheduler stopped" in events
    failure = next(entry for entry in logs if entry["event"] == "scheduled job failed")
    assert failure["job"] == "sweep" and failure["log_level"] == "error"


async def test_stopped_scheduler_can_start_again() -> None:
    clock = FakeClock()
    scheduler = Scheduler(clock)
    runs = []

    async def job() -> None:
        runs.append(1)

    scheduler.add("job", 10, job)
    scheduler.start()
    await settle()
    await scheduler.stop()
    scheduler.start()
    await settle()
    assert len(runs) == 2 and scheduler.running
    await scheduler.stop()
