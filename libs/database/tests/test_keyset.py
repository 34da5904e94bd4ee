"""Keyset pages: cursors round-trip, forged cursors are refused, and a newest-first query
pages through rows with equal timestamps without skipping or repeating one."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from lib_database import Database
from lib_database.keyset import (
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
    newest_first,
    page_of,
)
from lib_settings import ServiceSettings


class BorrowedSchemaSettings(ServiceSettings):
    """The library knows no service; it borrows one provisioned role and schema to run in."""

    service_name = "identity"


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    created_at = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    cursor = encode_cursor(created_at, "a/b+c")
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == (created_at, "a/b+c")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "x"]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "x", "y"]').decode(),
    ],
)
def test_a_cursor_not_made_by_encode_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match=r"The cursor is not valid\."):
        decode_cursor(cursor)


@dataclass
class Row:
    created_at: datetime
    id: str


def test_page_of_gives_a_next_cursor_only_when_a_row_is_left() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [Row(at, "c"), Row(at, "b"), Row(at, "a")]
    page, next_cursor = page_of(rows, 2)
    assert page == rows[:2]
    assert next_cursor is not None and decode_cursor(next_cursor) == (at, "b")
    assert page_of(rows[:2], 2) == (rows[:2], None)
    assert page_of([], 2) == ([], None)


probe = Table(
    "keyset_probe",
    MetaData(),
    Column("id", String, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@pytest.fixture
async def database(service_settings, migrate_service) -> AsyncIterator[Database]:
    migrate_service("identity")
    db = Database.from_settings(service_settings(BorrowedSchemaSettings))
    async with db.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE keyset_probe (id text PRIMARY KEY, created_at timestamptz NOT NULL)")
        )
    yield db
    async with db.engine.begin() as conn:  # leave the schema as its migrations made it
        await conn.execute(text("DROP TABLE keyset_probe"))
    await db.dispose()


async def test_newest_first_pages_through_every_row_once(database: Database) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    # Pairs of rows share a timestamp, so the id has to break the tie at page edges.
    rows = [
        {"id": str(uuid.uuid4()), "created_at": start + timedelta(seconds=i // 2)} for i in range(7)
    ]
    async with AsyncSession(database.engine) as session:
        await session.execute(probe.insert(), rows)
        await session.commit()
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = newest_first(
                select(probe), probe.c.created_at, probe.c.id, limit=3, cursor=cursor
            )
            found = [Row(r.created_at, r.id) for r in (await session.execute(query)).all()]
            page, cursor = page_of(found, 3)
            seen.extend(row.id for row in page)
            if cursor is None:
                break
    expected = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    assert seen == [r["id"] for r in expected]
