"""The unit of work: one transaction, and the events it emits written to the outbox in it.

Use cases do their work through `uow.session` (SQLModel/ORM) or `uow.connection` (Core, for hot
paths), announce what happened with `uow.emit(...)`, and call `await uow.commit()`. The events
reach the outbox in the same transaction as the state change, or not at all; nothing is
published from here (the relay does that).

The transaction lives on a plain connection; the ORM session is created on first use and joins
it. A consumer whose handler needs no ORM therefore pays for no session at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Self

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncTransaction

from lib_database.engine import Database
from lib_messaging.context import causation_id_var, current_correlation_id
from lib_messaging.envelope import Envelope, EventPayload
from lib_messaging.tables import messaging_tables


@cache
def _inbox_claim(schema: str) -> TextClause:
    """One statement claims a whole batch of events; built once per schema."""
    return text(
        f'INSERT INTO "{schema}".inbox (consumer, event_id, event_type) '
        "SELECT :consumer, e.id, e.type "
        "FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS e(id, type) "
        "ON CONFLICT DO NOTHING RETURNING event_id"
    )


class UnitOfWork:
    def __init__(self, database: Database, *, source: str, schema: str | None = None) -> None:
        self._database = database
        self.source = source
        self._schema = schema or source
        self._outbox = messaging_tables(self._schema).outbox.insert()
        self._pending: list[Envelope] = []
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None
        self._session: AsyncSession | None = None

    @property
    def database(self) -> Database:
        """The database this unit of work runs on (for work that must commit on its own, e.g.
        an idempotency key stored before an external call)."""
        return self._database

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for Core statements on hot paths."""
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._connection

    @property
    def session(self) -> AsyncSession:
        """An ORM session in the same transaction, created on first use."""
        if self._session is None:
            # Joins the open transaction; only the unit of work commits it.
            self._session = AsyncSession(bind=self.connection, expire_on_commit=False)
        return self._session

    async def __aenter__(self) -> Self:
        self._pending = []
        self._connection = await self._database.engine.connect()
        self._transaction = await self._connection.begin()
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Whatever was not committed is rolled back, events included.
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        transaction, self._transaction = self._transaction, None
        self._pending = []
        try:
            if session is not None:
                await session.close()
            if transaction is not None and transaction.is_active:
                await transaction.rollback()
        finally:
            if connection is not None:
                await connection.close()

    def emit(self, payload: EventPayload, *, subject: str) -> Envelope:
        """Record an event of this transaction; it is written to the outbox on commit."""
        envelope = Envelope.wrap(
            payload,
            source=self.source,
            subject=subject,
            correlation_id=current_correlation_id(),
            causation_id=causation_id_var.get(),
        )
        self._pending.append(envelope)
        return envelope

    async def commit(self) -> None:
        if self._transaction is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        if self._session is not None:
            await self._session.flush()
        if self._pending:
            await self.connection.execute(
                self._outbox,
                [
                    {
                        "id": e.id,
                        "event_type": e.type,
                        "event_version": e.version,
                        "routing_key": e.routing_key,
                        "subject": e.subject,
                        "envelope": e.model_dump(mode="json", by_alias=True),
                    }
                    for e in self._pending
                ],
            )
        await self._transaction.commit()
        self._pending = []
        # Later work in the same block gets a transaction of its own.
        self._transaction = await self.connection.begin()

    async def rollback(self) -> None:
        self._pending = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._transaction is not None and self._transaction.is_active:
            await self._transaction.rollback()
        self._transaction = await self.connection.begin()

    async def claim_inbox(
        self, consumer: str, events: Sequence[tuple[uuid.UUID, str]]
    ) -> set[uuid.UUID]:
        """Claim (consumer, event) for each (event id, type) in this transaction, in one round
        trip; returns the ids not handled before (a repeated id is returned once)."""
        result = await self.connection.execute(
            _inbox_claim(self._schema),
            {
                "consumer": consumer,
                "ids": [event_id for event_id, _ in events],
                "types": [event_type for _, event_type in events],
            },
        )
        return {row[0] for row in result}
