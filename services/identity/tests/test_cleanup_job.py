"""The cleanup job, called directly with a unit-of-work factory (not through the scheduler)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text

from identity.config import IdentitySettings
from identity.domain.cleanup import (
    delete_ended_sessions,
    delete_expired_verification_tokens,
    delete_stale_credentials,
)
from identity.jobs import JOBS
from lib_database import Database, UnitOfWork


@pytest.fixture
async def database(
    identity_settings: Callable[..., IdentitySettings],
) -> AsyncIterator[Database]:
    db = Database.from_settings(identity_settings())
    yield db
    await db.dispose()


def _factory(db: Database) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(db, source="identity")


async def _execute(db: Database, sql: str, **params: Any) -> Any:
    async with db.engine.begin() as conn:
        result = await conn.execute(text(sql), params)
        return result.scalars().all() if result.returns_rows else None


async def _user(db: Database) -> str:
    user_id = str(uuid.uuid4())
    await _execute(
        db,
        "INSERT INTO users (id, email, role, referral_code, referral_count, revision, "
        "created_at, updated_at) VALUES (:id, :email, 'USER', :code, 0, 1, now(), now())",
        id=user_id,
        email=f"cleanup-{user_id[:8]}@example.com",
        code=f"code-{user_id}",
    )
    return user_id


async def test_expired_tokens_go_and_live_ones_stay(database: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    for n in range(5):
        await _execute(
            database,
            "INSERT INTO verification_tokens (token, identifier, purpose, expires, created_at) "
            "VALUES (:t, :i, 'email_verification', now() - interval '1 minute', now())",
            t=f"expired-{tag}-{n}",
            i=f"{tag}@example.com",
        )
    await _execute(
        database,
        "INSERT INTO verification_tokens (token, identifier, purpose, expires, created_at) "
        "VALUES (:t, :i, 'password_reset', now() + interval '1 hour', now())",
        t=f"live-{tag}",
        i=f"{tag}@example.com",
    )
    deleted = await delete_expired_verification_tokens(_factory(database), batch_size=2)
    assert deleted >= 5  # other tests' expired tokens may go too
    left = await _execute(
        database,
        "SELECT token FROM verification_tokens WHERE identifier = :i",
        i=f"{tag}@example.com",
    )
    assert left == [f"live-{tag}"]
    assert await delete_expired_verification_tokens(_factory(database)) == 0


async def test_sessions_ended_longer_than_the_retention_go(database: Database) -> None:
    user_id = await _user(database)
    sessions = {
        "expired-long-ago": ("now() - interval '31 days'", "NULL"),
        "revoked-long-ago": ("now() + interval '1 day'", "now() - interval '31 days'"),
        "revoked-yesterday": ("now() + interval '1 day'", "now() - interval '1 day'"),
        "expired-yesterday": ("now() - interval '1 day'", "NULL"),
        "active": ("now() + interval '1 day'", "NULL"),
    }
    for name, (expires, revoked_at) in sessions.items():
        await _execute(
            database,
            "INSERT INTO sessions (id, session_token, user_id, expires, revoked_at, created_at) "
            f"VALUES (:id, :token, :user_id, {expires}, {revoked_at}, now() - interval '40 days')",
            id=f"{name}-{user_id}",
            token=f"hash-{name}-{user_id}",
            user_id=user_id,
        )
    await _execute(
        database,
        "INSERT INTO session_token_history (token_hash, session_id, rotated_at) "
        "VALUES (:h, :s, now() - interval '35 days')",
        h=f"old-{user_id}",
        s=f"revoked-long-ago-{user_id}",
    )
    assert await delete_ended_sessions(_factory(database), batch_size=1) >= 2
    left = await _execute(
        database, "SELECT id FROM sessions WHERE user_id = :u ORDER BY id", u=user_id
    )
    assert left == sorted(
        f"{name}-{user_id}" for name in ("revoked-yesterday", "expired-yesterday", "active")
    )
    history = await _execute(
        database,
        "SELECT token_hash FROM session_token_history WHERE token_hash = :h",
        h=f"old-{user_id}",
    )
    assert history == []
    # Idempotent: a second pass finds nothing more of this user's.
    await delete_stale_credentials(_factory(database))
    assert (
        len(await _execute(database, "SELECT id FROM sessions WHERE user_id = :u", u=user_id)) == 3
    )


def test_the_worker_schedules_the_cleanup() -> None:
    [job] = [j for j in JOBS if j.name == "delete-stale-credentials"]
    assert job.run is delete_stale_credentials
    assert job.every_s <= 24 * 3600
