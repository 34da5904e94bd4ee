"""Transaction-scoped advisory locks: one decision about a thing at a time, without locking
its row (which another transaction may need to write meanwhile)."""

from __future__ import annotations

from sqlalchemy import text

from lib_database import UnitOfWork


async def serialize(uow: UnitOfWork, key: str) -> None:
    """Wait until no other transaction holds `key`; held until this transaction ends."""
    await uow.session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
    )
