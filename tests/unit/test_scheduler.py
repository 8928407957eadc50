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


async def test_stop_ends_a_job_that_swallowed_its_cancellation() -> None:
    """A job's library may lose the cancel that lands inside a call (redis-py's asyncio client
    does); stop() still ends the job's loop, and no job runs afterwards."""
    clock = FakeClock()
    scheduler = Scheduler(clock)
    inside, runs = asyncio.Event(), []

    async def swallowing() -> None:
        runs.append(1)
        inside.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return  # as if the call had completed: the cancellation is gone

    job = scheduler.add("swallowing", 1, swallowing)
    scheduler.start()
    await inside.wait()
    task = job.task
    await asyncio.wait_for(scheduler.stop(), 5)
    assert task is not None and task.done() and not scheduler.running
    clock.advance(10)
    await settle()
    assert runs == [1]
