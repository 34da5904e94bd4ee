"""Deleting credentials nobody can use any more: expired verification tokens, and sessions
that ended (expired or revoked) longer ago than a retention.

Ended sessions are kept a while so that a user's session list and the audit trail can still
be matched to them. Each pass deletes in small batches, each its own transaction (rows locked
by a running request are skipped and left for the next pass); deleting is idempotent, so a
pass that dies half-way is simply finished by the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Result, delete, or_
from sqlmodel import col, select

from identity.models import Session, VerificationToken
from lib_database import UnitOfWork
from lib_runtime.scheduling import UnitOfWorkFactory

SESSION_RETENTION = timedelta(days=30)
BATCH_SIZE = 500

# One batch's DELETE ... RETURNING, run in the given unit of work.
_BatchDelete = Callable[[UnitOfWork], Awaitable[Result[Any]]]


async def delete_stale_credentials(uow_factory: UnitOfWorkFactory) -> int:
    """The scheduled job: one pass of both deletions; how many rows went."""
    tokens = await delete_expired_verification_tokens(uow_factory)
    sessions = await delete_ended_sessions(uow_factory)
    return tokens + sessions


async def delete_expired_verification_tokens(
    uow_factory: UnitOfWorkFactory, *, batch_size: int = BATCH_SIZE
) -> int:
    now = datetime.now(UTC)
    token = col(VerificationToken.token)
    return await _delete_in_batches(
        uow_factory,
        lambda uow: uow.session.execute(
            delete(VerificationToken)
            .where(
                token.in_(
                    select(token)
                    .where(col(VerificationToken.expires) <= now)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            .returning(token)
            .execution_options(synchronize_session=False)
        ),
        batch_size,
    )


async def delete_ended_sessions(
    uow_factory: UnitOfWorkFactory,
    *,
    retention: timedelta = SESSION_RETENTION,
    batch_size: int = BATCH_SIZE,
) -> int:
    cutoff = datetime.now(UTC) - retention
    ended_before_cutoff: ColumnElement[bool] = or_(
        col(Session.expires) < cutoff, col(Session.revoked_at) < cutoff
    )
    session_id = col(Session.id)
    return await _delete_in_batches(
        uow_factory,
        lambda uow: uow.session.execute(
            delete(Session)
            .where(
                session_id.in_(
                    select(session_id)
                    .where(ended_before_cutoff)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            .returning(session_id)
            .execution_options(synchronize_session=False)
        ),
        batch_size,
    )


async def _delete_in_batches(
    uow_factory: UnitOfWorkFactory, delete_batch: _BatchDelete, batch_size: int
) -> int:
    total = 0
    while True:
        async with uow_factory() as uow:
            deleted = len((await delete_batch(uow)).all())
            await uow.commit()
        total += deleted
        if deleted < batch_size:
            return total
