"""The async engine and session factory, built from settings when a process starts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from lib_settings import ServiceSettings


class Database:
    """One per process, created in the lifespan or the worker's start-up, never at import."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session_factory = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Database:
        engine = create_async_engine(
            settings.database_url.get_secret_value(),
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            # No pre-ping: it costs three round trips per checkout, once per event on a consumer.
            # A connection the server dropped fails one attempt; the consumer retries, the relay
            # retries, and the pool replaces the connection. Recycling avoids most of those.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={
                # The service's own schema first: unqualified names never reach another's.
                "server_settings": {
                    "search_path": settings.db_schema,
                    "application_name": settings.service_name,
                },
            },
        )
        return cls(engine)

    def session(self) -> AsyncSession:
        return self.session_factory()

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection's asyncpg driver, for hot paths that bypass SQLAlchemy."""
        async with self.engine.connect() as connection:
            yield await driver_of(connection)

    async def ping(self) -> None:
        """Readiness: a round trip to the database."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def driver_of(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one (in its transaction, if one is begun)."""
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver
