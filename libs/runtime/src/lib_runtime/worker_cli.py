"""The worker command of every service: `<service>-worker [run | replay-dead-letters | run-job]`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence

import structlog
from prometheus_client import start_http_server

from lib_database import Database, UnitOfWork
from lib_messaging.broker import connect_broker
from lib_messaging.consumer import Subscription
from lib_messaging.replay import replay_dead_letters
from lib_messaging.worker import EventWorker, queue_topology
from lib_runtime.scheduling import JobScheduler, ScheduledJob
from lib_settings import ServiceSettings
from lib_web import configure_logging

log = structlog.get_logger(__name__)


def uow_factory(database: Database, settings: ServiceSettings) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(database, source=settings.service_name, schema=settings.db_schema)


def build_worker(
    settings: ServiceSettings, database: Database, subscriptions: Sequence[Subscription]
) -> EventWorker:
    return EventWorker(settings, database.engine, subscriptions, uow_factory(database, settings))


def build_scheduler(
    settings: ServiceSettings, database: Database, jobs: Sequence[ScheduledJob]
) -> JobScheduler:
    return JobScheduler(
        database.engine, settings.service_name, jobs, uow_factory(database, settings)
    )


async def run_worker(
    settings: ServiceSettings,
    subscriptions: Sequence[Subscription],
    jobs: Sequence[ScheduledJob] = (),
) -> None:
    database = Database.from_settings(settings)
    scheduler = build_scheduler(settings, database, jobs)
    scheduler.start()
    try:
        await build_worker(settings, database, subscriptions).run_until_signalled()
    finally:
        await scheduler.stop()  # a running job finishes its batch first
        await database.dispose()


async def run_job(settings: ServiceSettings, jobs: Sequence[ScheduledJob], name: str) -> int | None:
    database = Database.from_settings(settings)
    try:
        return await build_scheduler(settings, database, jobs).run_once(name)
    finally:
        await database.dispose()


async def replay(settings: ServiceSettings, subscription: Subscription, limit: int | None) -> int:
    connection = await connect_broker(
        settings.amqp_url.get_secret_value(), name=f"{settings.service_name}-replay"
    )
    async with connection:
        return await replay_dead_letters(
            connection, queue_topology(settings, subscription).names, limit=limit
        )


def worker_main(
    settings_factory: Callable[[], ServiceSettings],
    subscriptions: Sequence[Subscription],
    argv: Sequence[str] | None = None,
    jobs: Sequence[ScheduledJob] = (),
) -> None:
    parser = argparse.ArgumentParser(description="The service's outbox relay and consumers.")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="relay and consume until SIGINT/SIGTERM (the default)")
    replay_cmd = commands.add_parser(
        "replay-dead-letters", help="move dead letters back to their queue"
    )
    groups = [s.group for s in subscriptions]
    replay_cmd.add_argument("--group", default=groups[0] if groups else None, choices=groups)
    replay_cmd.add_argument("--limit", type=int, default=None)
    job_cmd = commands.add_parser("run-job", help="run one scheduled job once, now")
    job_cmd.add_argument("name", choices=[job.name for job in jobs])
    args = parser.parse_args(argv)

    settings = settings_factory()
    configure_logging(settings)
    if args.command == "replay-dead-letters":
        if not subscriptions:
            parser.error(f"{settings.service_name} consumes no events: it has no dead letters")
        subscription = next(s for s in subscriptions if s.group == args.group)
        moved = asyncio.run(replay(settings, subscription, args.limit))
        print(f"replayed {moved} dead letters into {subscription.group}")
        return
    if args.command == "run-job":
        handled = asyncio.run(run_job(settings, jobs, args.name))
        if handled is None:
            print(f"{args.name}: skipped, another replica is running it")
        else:
            print(f"{args.name}: handled {handled}")
        return
    start_http_server(settings.worker_metrics_port, addr=settings.http_host)
    asyncio.run(run_worker(settings, subscriptions, jobs))
