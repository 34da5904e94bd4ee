"""The unit of work: one transaction, and the events it emits written to the outbox in it.

Use cases do their work through `uow.session`, announce what happened with `uow.emit(...)`, and
call `await uow.commit()`. The events reach the outbox in the same transaction as the state
change, or not at all; nothing is published from here (the relay does that).
"""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lib_database.engine import Database
from lib_messaging.context import causation_id_var, current_correlation_id
from lib_messaging.envelope import Envelope, EventPayload
from lib_messaging.tables import messaging_tables


class UnitOfWork:
    def __init__(self, database: Database, *, source: str, schema: str | None = None) -> None:
        self._database = database
        self.source = source
        self._tables = messaging_tables(schema or source)
        self._pending: list[Envelope] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._database.session()
        self._pending = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Whatever was not committed is rolled back, events included.
        session, self._session = self._session, None
        self._pending = []
        if session is not None:
            await session.rollback()
            await session.close()

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
        if self._pending:
            await self.session.execute(
                self._tables.outbox.insert(),
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
        await self.session.commit()
        self._pending = []

    async def rollback(self) -> None:
        self._pending = []
        await self.session.rollback()

    async def record_inbox(self, consumer: str, event_id: Any, event_type: str) -> bool:
        """Claim (consumer, event) in this transaction; False if it was handled before."""
        inbox = self._tables.inbox
        result = await self.session.execute(
            insert(inbox)
            .values(consumer=consumer, event_id=event_id, event_type=event_type)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return result.first() is not None
