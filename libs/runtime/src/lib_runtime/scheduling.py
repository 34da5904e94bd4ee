"""Periodic jobs run by a service's worker (expire trials, release stale reservations, ...).

Every replica of a worker runs the same scheduler; a Postgres advisory lock named after the
service and the job makes sure one replica at a time runs a given job. The lock is
session-level on a connection of its own, so a crashed worker releases it with its
connection. Jobs must still be idempotent: a run that dies half-way is simply run again at
the next tick, and each job commits in small batches of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lib_database import UnitOfWork

log = structlog.get_logger(__name__)

UnitOfWorkFactory = Callable[[], UnitOfWork]
JobRun = Callable[[UnitOfWorkFactory], Awaitable[int]]

JOB_RUNS = Counter(
    "scheduled_job_runs_total",
    "Runs of scheduled jobs by outcome (ok, failed, skipped: another replica held the lock).",
    ["service", "job", "outcome"],
)
JOB_ITEMS = Counter(
    "scheduled_job_items_total", "Items handled by scheduled jobs.", ["service", "job"]
)
JOB_SECONDS = Histogram(
    "scheduled_job_duration_seconds", "Duration of scheduled job runs.", ["service", "job"]
)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """`run(uow_factory)` does one pass and returns how many items it handled."""

    name: str
    every_s: float
    run: JobRun


def advisory_lock_key(service: str, job: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock (Python's hash() is salted)."""
    digest = hashlib.blake2b(f"{service}:{job}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class JobScheduler:
    """Runs each job every `every_s` seconds (the first run at start) until stopped.

    Stopping lets a running job finish; it is never cancelled half-way through a batch.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        service: str,
        jobs: Sequence[ScheduledJob],
        uow_factory: UnitOfWorkFactory,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique, got {names}")
        self._engine = engine
        self._service = service
        self._jobs = {job.name: job for job in jobs}
        self._uow_factory = uow_factory
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def jobs(self) -> Sequence[ScheduledJob]:
        return list(self._jobs.values())

    def start(self) -> None:
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._every(job), name=f"job:{job.name}")
            for job in self._jobs.values()
        ]

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def run_once(self, name: str) -> int | None:
        """Run job `name` now, if no other replica is running it; None when it was skipped.
        A failing job raises."""
        job = self._jobs[name]
        labels = (self._service, job.name)
        async with self._engine.connect() as lock_conn:
            key = advisory_lock_key(self._service, job.name)
            taken = await lock_conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
            await lock_conn.commit()  # no transaction left open while the job runs
            if not taken:
                JOB_RUNS.labels(*labels, "skipped").inc()
                return None
            started = time.perf_counter()
            try:
                handled = await job.run(self._uow_factory)
            except Exception:
                JOB_RUNS.labels(*labels, "failed").inc()
                raise
            finally:
                JOB_SECONDS.labels(*labels).observe(time.perf_counter() - started)
                with contextlib.suppress(Exception):  # a lost connection released it anyway
                    await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await lock_conn.commit()
        JOB_RUNS.labels(*labels, "ok").inc()
        JOB_ITEMS.labels(*labels).inc(handled)
        if handled:
            log.info("job.ran", job=job.name, handled=handled)
        return handled

    async def _every(self, job: ScheduledJob) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once(job.name)
            except Exception:
                log.exception("job.failed", job=job.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=job.every_s)
