"""The unit of work against a real database: events reach the outbox with the state change,
or not at all; the inbox claims an event once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from lib_database import Database, UnitOfWork, driver_of
from lib_messaging.context import correlation_scope
from lib_messaging.envelope import EventPayload, event_contract
from lib_settings import ServiceSettings


class BorrowedSchemaSettings(ServiceSettings):
    """The library knows no service; it borrows one provisioned role and schema to run in."""

    service_name = "identity"


@event_contract("test.ledger.noted", 1)
class LedgerNoted(EventPayload):
    note: str


@pytest.fixture
async def database(service_settings, migrate_service) -> AsyncIterator[Database]:
    migrate_service("identity")
    db = Database.from_settings(service_settings(BorrowedSchemaSettings))
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS uow_probe (note text PRIMARY KEY)"))
        await conn.execute(text("DELETE FROM uow_probe"))
        await conn.execute(text("DELETE FROM outbox"))
    yield db
    async with db.engine.begin() as conn:  # leave the schema as its migrations made it
        await conn.execute(text("DROP TABLE uow_probe"))
    await db.dispose()


async def outbox_rows(db: Database) -> list[dict[str, object]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT routing_key, subject, envelope FROM outbox"))
        return [dict(r._mapping) for r in rows]


async def test_commit_writes_state_and_events_together(database: Database) -> None:
    with correlation_scope("corr-42"):
        async with UnitOfWork(database, source="identity") as uow:
            await uow.session.execute(text("INSERT INTO uow_probe VALUES ('a')"))
            uow.emit(LedgerNoted(note="a"), subject="note-a")
            await uow.commit()
    [row] = await outbox_rows(database)
    assert row["routing_key"] == "test.ledger.noted.v1"
    assert row["subject"] == "note-a"
    envelope = row["envelope"]
    assert isinstance(envelope, dict)
    assert envelope["correlationId"] == "corr-42"
    assert envelope["source"] == "identity"
    assert envelope["data"] == {"note": "a"}


async def test_leaving_without_commit_writes_nothing(database: Database) -> None:
    async with UnitOfWork(database, source="identity") as uow:
        await uow.session.execute(text("INSERT INTO uow_probe VALUES ('b')"))
        uow.emit(LedgerNoted(note="b"), subject="note-b")
    assert await outbox_rows(database) == []
    async with database.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM uow_probe"))).scalar_one() == 0


async def test_a_failing_statement_loses_the_events_too(database: Database) -> None:
    async with UnitOfWork(database, source="identity") as uow:
        await uow.session.execute(text("INSERT INTO uow_probe VALUES ('c')"))
        await uow.commit()
    with pytest.raises(Exception, match="duplicate key"):
        async with UnitOfWork(database, source="identity") as uow:
            uow.emit(LedgerNoted(note="c"), subject="note-c")
            await uow.session.execute(text("INSERT INTO uow_probe VALUES ('c')"))
            await uow.commit()
    assert await outbox_rows(database) == []


async def test_inbox_claims_each_event_once_per_consumer(database: Database) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    noted = "test.ledger.noted"
    async with UnitOfWork(database, source="identity") as uow:
        assert await uow.claim_inbox("identity.main", [(first, noted)]) == {first}
        # a batch with one old and one new event, the new one twice
        claimed = await uow.claim_inbox(
            "identity.main", [(first, noted), (second, noted), (second, noted)]
        )
        assert claimed == {second}
        assert await uow.claim_inbox("identity.other", [(first, noted)]) == {first}
        await uow.commit()
    async with UnitOfWork(database, source="identity") as uow:
        assert await uow.claim_inbox("identity.main", [(first, noted), (second, noted)]) == set()


async def test_session_outside_the_block_is_an_error(database: Database) -> None:
    uow = UnitOfWork(database, source="identity")
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.session


async def test_connection_and_session_share_one_transaction(database: Database) -> None:
    async with UnitOfWork(database, source="identity") as uow:
        await uow.connection.execute(text("INSERT INTO uow_probe VALUES ('core')"))
        await uow.session.execute(text("INSERT INTO uow_probe VALUES ('orm')"))
        uow.emit(LedgerNoted(note="both"), subject="both")
        # neither is visible outside before the commit
        async with database.engine.connect() as other:
            assert (await other.execute(text("SELECT count(*) FROM uow_probe"))).scalar_one() == 0
        await uow.commit()
    async with database.engine.connect() as conn:
        notes = (await conn.execute(text("SELECT note FROM uow_probe ORDER BY note"))).scalars()
        assert list(notes) == ["core", "orm"]
    assert len(await outbox_rows(database)) == 1


async def test_work_after_a_commit_runs_in_a_new_transaction(database: Database) -> None:
    async with UnitOfWork(database, source="identity") as uow:
        await uow.session.execute(text("INSERT INTO uow_probe VALUES ('first')"))
        await uow.commit()
        await uow.session.execute(text("INSERT INTO uow_probe VALUES ('second')"))
        uow.emit(LedgerNoted(note="second"), subject="second")
        # leaving without a second commit drops the second part only
    async with database.engine.connect() as conn:
        notes = (await conn.execute(text("SELECT note FROM uow_probe"))).scalars()
        assert list(notes) == ["first"]
    assert await outbox_rows(database) == []


async def test_the_driver_connection_is_the_services_own_and_sees_the_transaction(
    database: Database,
) -> None:
    async with database.driver_connection() as driver:
        assert await driver.fetchval("SELECT current_schema()") == "identity"
    async with UnitOfWork(database, source="identity") as uow:
        await uow.connection.execute(text("SELECT 1"))  # begins the transaction
        driver = await driver_of(uow.connection)
        assert driver.is_in_transaction()
