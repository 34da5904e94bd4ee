"""Each service's role works in its own schema and cannot touch another's (DESIGN.md)."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

SERVICES = ["identity", "billing", "market_data", "booking", "content"]


@pytest.fixture(scope="module")
def migrated_all(migrate_service) -> None:
    for service in SERVICES:
        migrate_service(service)


@pytest.mark.parametrize(("role", "other"), list(itertools.permutations(SERVICES, 2)))
async def test_role_cannot_read_or_write_another_services_schema(
    platform_database, migrated_all, role: str, other: str
) -> None:
    conn = await asyncpg.connect(platform_database.url_for(role, driver="postgresql"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f'SELECT * FROM "{other}".outbox LIMIT 1')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'CREATE TABLE "{other}".intruder (id int)')
    finally:
        await conn.close()


@pytest.mark.parametrize("role", SERVICES)
async def test_role_owns_its_schema_and_not_public(
    platform_database, migrated_all, role: str
) -> None:
    conn = await asyncpg.connect(platform_database.url_for(role, driver="postgresql"))
    try:
        assert await conn.fetchval("SELECT current_schema()") == role
        assert await conn.fetchval("SELECT count(*) FROM outbox") >= 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.intruder (id int)")
    finally:
        await conn.close()
