"""Scheduled jobs: periodic runs, one replica at a time, failures survived, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from sqlalchemy import text

from lib_database import Database
from lib_runtime.scheduling import JobScheduler, ScheduledJob, UnitOfWorkFactory
from lib_runtime.worker_cli import uow_factory, worker_main
from lib_settings import ServiceSettings


class BorrowedSchemaSettings(ServiceSettings):
    service_name: ClassVar[str] = "market_data"


@pytest.fixture
def settings(service_settings) -> BorrowedSchemaSettings:
    made: BorrowedSchemaSettings = service_settings(BorrowedSchemaSettings)
    return made


@pytest.fixture
async def database(settings: BorrowedSchemaSettings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


def scheduler_for(
    database: Database, settings: ServiceSettings, *jobs: ScheduledJob
) -> JobScheduler:
    return JobScheduler(
        database.engine, settings.service_name, jobs, uow_factory(database, settings)
    )


async def test_a_job_runs_at_start_and_then_every_interval(database, settings) -> None:
    runs: list[int] = []

    async def count_rows(new_uow: UnitOfWorkFactory) -> int:
        async with new_uow() as uow:  # the factory gives working units of work
            runs.append(await uow.connection.scalar(text("SELECT 1")))
        return 1

    scheduler = scheduler_for(database, settings, ScheduledJob("count", 0.05, count_rows))
    scheduler.start()
    await asyncio.sleep(0.6)
    await scheduler.stop()
    stopped_at = len(runs)
    assert stopped_at >= 3
    await asyncio.sleep(0.2)
    assert len(runs) == stopped_at  # nothing runs after stop


async def test_one_replica_at_a_time_runs_a_job(database, settings) -> None:
    running = 0
    most_at_once = 0

    async def slow(_: UnitOfWorkFactory) -> int:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.3)
        running -= 1
        return 1

    job = ScheduledJob("slow", 60.0, slow)
    replica_a = scheduler_for(database, settings, job)
    replica_b = scheduler_for(database, settings, job)
    results = await asyncio.gather(replica_a.run_once("slow"), replica_b.run_once("slow"))
    assert sorted(results, key=lambda r: r is None) == [1, None]
    assert most_at_once == 1
    # The lock is released after the run: the other replica can run it now.
    assert await replica_b.run_once("slow") == 1


async def test_a_failing_run_is_logged_and_the_job_runs_again(database, settings) -> None:
    attempts = 0

    async def flaky(_: UnitOfWorkFactory) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("first run fails")
        return 2

    scheduler = scheduler_for(database, settings, ScheduledJob("flaky", 0.05, flaky))
    with pytest.raises(RuntimeError):
        await scheduler.run_once("flaky")
    assert await scheduler.run_once("flaky") == 2  # the lock did not stay taken
    scheduler.start()
    await asyncio.sleep(0.3)
    await scheduler.stop()
    assert attempts >= 4


async def test_stop_lets_a_running_job_finish(database, settings) -> None:
    finished = asyncio.Event()

    async def long_batch(_: UnitOfWorkFactory) -> int:
        await asyncio.sleep(0.3)
        finished.set()
        return 1

    scheduler = scheduler_for(database, settings, ScheduledJob("long", 60.0, long_batch))
    scheduler.start()
    await asyncio.sleep(0.05)
    await scheduler.stop()
    assert finished.is_set()


def test_job_names_must_be_unique(database, settings) -> None:
    async def noop(_: UnitOfWorkFactory) -> int:
        return 0

    with pytest.raises(ValueError, match="unique"):
        scheduler_for(database, settings, ScheduledJob("a", 1, noop), ScheduledJob("a", 2, noop))


def test_run_job_command_runs_the_job_once(settings, capsys) -> None:
    calls: list[str] = []

    async def remember(new_uow: UnitOfWorkFactory) -> int:
        async with new_uow() as uow:
            calls.append(await uow.connection.scalar(text("SELECT current_user")))
        return 5

    worker_main(
        lambda: settings,
        [],
        argv=["run-job", "remember"],
        jobs=[ScheduledJob("remember", 60.0, remember)],
    )
    assert calls == ["market_data"]
    assert "remember: handled 5" in capsys.readouterr().out
