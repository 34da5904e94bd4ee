"""Lean versions of the consumer's unit of work, proposed for lib_database (see README.md).

Bench-local prototypes, used by the `hot-paths` benchmark (and, with `--consumer lean`, by the
end-to-end and latency benchmarks) to measure what the proposed changes would be worth. They
keep the library's semantics: the inbox row and the handler's writes commit together, and a
duplicate (the inbox row exists) is reported so the handler is skipped.
"""

from __future__ import annotations

from typing import Any, Self

import asyncpg
from lib_messaging.consumer import Subscription
from lib_messaging.envelope import Envelope
from lib_settings import ServiceSettings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from environment import CONSUMER_GROUP, PROBE_TABLE, BenchProbe, ProbeTally

INBOX_INSERT = (
    "INSERT INTO inbox (consumer, event_id, event_type) VALUES ({}, {}, {}) "
    "ON CONFLICT DO NOTHING RETURNING event_id"
)
PROBE_INSERT = f"INSERT INTO {PROBE_TABLE} (event_id, seq) VALUES ($1, $2)"


def engine_without_pre_ping(settings: ServiceSettings) -> AsyncEngine:
    """`Database.from_settings`'s engine, less `pool_pre_ping`."""
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=False,
        connect_args={
            "server_settings": {
                "search_path": settings.db_schema,
                "application_name": settings.service_name,
            }
        },
    )


class CoreInboxUnitOfWork:
    """A Core connection per event and a prebuilt inbox statement; `session` is the connection."""

    inbox_insert = text(INBOX_INSERT.format(":consumer", ":event_id", ":event_type"))

    def __init__(self, engine: AsyncEngine, tally: ProbeTally) -> None:
        self._engine = engine
        self.tally = tally
        self.probes_sent_at: list[float] = []
        self._connection: AsyncConnection | None = None

    @property
    def session(self) -> AsyncConnection:
        assert self._connection is not None
        return self._connection

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        await self._connection.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()  # rolls back whatever was not committed

    async def claim_inbox(self, consumer: str, events: list[tuple[Any, str]]) -> set[Any]:
        unseen = set()
        for event_id, event_type in events:
            result = await self.session.execute(
                self.inbox_insert,
                {"consumer": consumer, "event_id": event_id, "event_type": event_type},
            )
            if result.first() is not None:
                unseen.add(event_id)
        return unseen

    async def commit(self) -> None:
        await self.session.commit()
        for sent_at in self.probes_sent_at:
            self.tally.record(sent_at)
        self.probes_sent_at = []


class AsyncpgInboxUnitOfWork:
    """The same transaction on a bare asyncpg pool connection."""

    inbox_insert = INBOX_INSERT.format("$1", "$2", "$3")

    def __init__(self, pool: asyncpg.Pool, tally: ProbeTally) -> None:
        self._pool = pool
        self.tally = tally
        self.probes_sent_at: list[float] = []
        self.connection: Any = None
        self._transaction: Any = None

    async def __aenter__(self) -> Self:
        self.connection = await self._pool.acquire()
        self._transaction = self.connection.transaction()
        await self._transaction.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        connection, self.connection = self.connection, None
        try:
            if self._transaction is not None:
                await self._transaction.rollback()
        finally:
            await self._pool.release(connection)

    async def claim_inbox(self, consumer: str, events: list[tuple[Any, str]]) -> set[Any]:
        unseen = set()
        for event_id, event_type in events:
            if await self.connection.fetchval(self.inbox_insert, consumer, event_id, event_type):
                unseen.add(event_id)
        return unseen

    async def commit(self) -> None:
        await self._transaction.commit()
        self._transaction = None
        for sent_at in self.probes_sent_at:
            self.tally.record(sent_at)
        self.probes_sent_at = []


def asyncpg_probe_subscription() -> Subscription:
    async def handle(payload: BenchProbe, envelope: Envelope, uow: AsyncpgInboxUnitOfWork) -> None:
        await uow.connection.execute(PROBE_INSERT, envelope.id, payload.seq)
        uow.probes_sent_at.append(payload.sent_at)

    return Subscription.of(CONSUMER_GROUP, {BenchProbe: handle})


async def create_asyncpg_pool(settings: ServiceSettings) -> asyncpg.Pool:
    """A bare asyncpg pool as large as the engine's, without the per-release reset query."""
    return await asyncpg.create_pool(
        settings.database_url.get_secret_value().replace("+asyncpg", ""),
        min_size=1,
        max_size=settings.database_pool_size + settings.database_max_overflow,
        reset=None,
        server_settings={
            "search_path": settings.db_schema,
            "application_name": settings.service_name,
        },
    )
