"""Deleting credentials nobody can use any more: expired verification tokens, and sessions
that ended (expired or revoked) longer ago than a retention.

Ended sessions are kept a while so that a user's session list and the audit trail can still
be matched to them. Each pass deletes in small batches, each its own transaction (rows locked
by a running request are skipped and left for the next pass); deleting is idempotent, so a
pass that dies half-way is simply finished by the next one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_
from sqlalchemy.orm import Mapped
from sqlmodel import SQLModel, col, select

from identity.models import Session, VerificationToken
from lib_runtime.scheduling import UnitOfWorkFactory

SESSION_RETENTION = timedelta(days=30)
BATCH_SIZE = 500


async def delete_stale_credentials(uow_factory: UnitOfWorkFactory) -> int:
    """The scheduled job: one pass of both deletions; how many rows went."""
    tokens = await delete_expired_verification_tokens(uow_factory)
    sessions = await delete_ended_sessions(uow_factory)
    return tokens + sessions


async def delete_expired_verification_tokens(
    uow_factory: UnitOfWorkFactory, *, batch_size: int = BATCH_SIZE
) -> int:
    now = datetime.now(UTC)
    return await _delete_in_batches(
        uow_factory,
        VerificationToken,
        col(VerificationToken.token),
        col(VerificationToken.expires) <= now,
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
    return await _delete_in_batches(
        uow_factory, Session, col(Session.id), ended_before_cutoff, batch_size
    )


async def _delete_in_batches(
    uow_factory: UnitOfWorkFactory,
    model: type[SQLModel],
    key: Mapped[str],
    due: ColumnElement[bool],
    batch_size: int,
) -> int:
    """Delete the `model` rows `due` selects (by their `key`), `batch_size` at a time; how many."""
    batch = (
        delete(model)
        .where(key.in_(select(key).where(due).limit(batch_size).with_for_update(skip_locked=True)))
        .returning(key)
        .execution_options(synchronize_session=False)
    )
    total = 0
    while True:
        async with uow_factory() as uow:
            deleted = len((await uow.session.execute(batch)).all())
            await uow.commit()
        total += deleted
        if deleted < batch_size:
            return total
