"""Periodic jobs: run once at start, then every interval; survive their own errors; stoppable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from publicrooms.clock import Clock
from publicrooms.errors import is_outage
from publicrooms.state.leases import LeaseStore

log = structlog.get_logger("publicrooms.scheduler")


@dataclass
class PeriodicJob:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[Any]]
    # A cluster job runs on one node per period (under a lease); a node job on every node.
    cluster: bool = True
    runs: int = 0
    executed: int = 0  # periods this node actually ran (won the lease for)
    failures: int = 0
    task: asyncio.Task | None = field(default=None, repr=False)


class Scheduler:
    def __init__(self, clock: Clock, leases: LeaseStore | None = None) -> None:
        self._clock = clock
        self._leases = leases
        self.jobs: dict[str, PeriodicJob] = {}
        self._stopping = False

    def add(self, name: str, interval_s: float, run: Callable[[], Awaitable[Any]], *,
            cluster: bool = True) -> PeriodicJob:
        job = PeriodicJob(name, interval_s, run, cluster)
        self.jobs[name] = job
        return job

    @property
    def running(self) -> bool:
        return any(job.task and not job.task.done() for job in self.jobs.values())

    def start(self) -> None:
        self._stopping = False
        for job in self.jobs.values():
            if job.task is None or job.task.done():
                job.task = asyncio.create_task(self._loop(job), name=f"job:{job.name}")
                log.info("scheduler started", job=job.name, interval_s=job.interval_s)

    async def stop(self) -> None:
        # The flag ends a loop whose cancellation a job swallowed (redis-py's asyncio client
        # loses a cancel that lands inside a command): it returns after that run.
        self._stopping = True
        tasks = [job.task for job in self.jobs.values() if job.task and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job in self.jobs.values():
            if job.task is not None:
                log.info("scheduler stopped", job=job.name, runs=job.runs)
            job.task = None

    async def run_now(self, name: str) -> Any:
        """Run one job immediately (operators and tests), outside its loop and its lease."""
        return await self._run_once(self.jobs[name], leased=False)

    async def _loop(self, job: PeriodicJob) -> None:
        # Beats are on a fixed grid from the start, so a slow run doesn't push later ones back;
        # missed beats collapse into one immediate run.
        next_at = self._clock.monotonic()
        while not self._stopping:
            await self._run_once(job)
            if self._stopping:
                return
            now = self._clock.monotonic()
            next_at = max(next_at + job.interval_s, now)
            await self._clock.sleep(next_at - now)

    async def _claimed(self, job: PeriodicJob) -> bool:
        """Whether this node runs the job's current period (the first node to claim it does)."""
        if not job.cluster or self._leases is None:
            return True
        # Periods are counted on the shared wall clock, so every node names the same one.
        period = int(self._clock.time() // job.interval_s)
        return await self._leases.claim(job.name, period, max(60.0, 2 * job.interval_s))

    async def _run_once(self, job: PeriodicJob, *, leased: bool = True) -> Any:
        try:
            if leased and not await self._claimed(job):
                return None
            job.executed += 1
            result = await job.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            job.failures += 1
            if is_outage(exc):
                log.warning("scheduled job skipped: backing service unavailable", job=job.name,
                            failures=job.failures, error=repr(exc))
            else:
                log.exception("scheduled job failed", job=job.name, failures=job.failures)
            return None
        finally:
            job.runs += 1
        return result
