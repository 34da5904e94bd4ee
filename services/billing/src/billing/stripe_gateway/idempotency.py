"""Idempotency keys of outgoing Stripe create calls, committed before the call is made.

The key is looked up by (operation, target): a retry after a crash, a timeout or a redelivered
event finds the key of the first attempt and sends it again, so Stripe creates the object once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from lib_database import Database


async def stored_key(database: Database, operation: str, target_id: str) -> str:
    """The key for this (operation, target), created and committed now if there is none."""
    async with database.engine.begin() as conn:
        key = (
            await conn.execute(
                text(
                    "INSERT INTO stripe_idempotency_keys (id, key, operation, target_id, "
                    "created_at) VALUES (:id, :key, :operation, :target, now()) "
                    "ON CONFLICT (operation, target_id) DO UPDATE SET operation = "
                    "EXCLUDED.operation RETURNING key"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "key": f"billing-{operation}-{uuid.uuid4()}",
                    "operation": operation,
                    "target": target_id,
                },
            )
        ).scalar_one()
    return str(key)


async def mark_completed(database: Database, key: str, stripe_object_id: str) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE stripe_idempotency_keys SET stripe_object_id = :object_id, "
                "completed_at = :now WHERE key = :key AND completed_at IS NULL"
            ),
            {"object_id": stripe_object_id, "now": datetime.now(UTC), "key": key},
        )


async def forget(database: Database, operation: str, target_id: str) -> None:
    """Drop the key of a create call whose result was refused (a declined first payment), so
    the next attempt is a new request at Stripe rather than a replay of the refused one."""
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM stripe_idempotency_keys WHERE operation = :operation "
                "AND target_id = :target"
            ),
            {"operation": operation, "target": target_id},
        )
