"""Admins' reading of the audit log: filtered, newest first, in keyset pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import col, select

from identity.domain.audit import AuditAction
from identity.models import AuditLog
from lib_database import UnitOfWork
from lib_database.keyset import decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class AuditLogFilter:
    user_id: str | None = None
    action: AuditAction | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class AuditLogPage:
    entries: list[AuditLog]
    next_cursor: str | None


async def list_audit_logs(
    uow: UnitOfWork, wanted: AuditLogFilter, *, limit: int, cursor: str | None
) -> AuditLogPage:
    created_at = col(AuditLog.created_at)
    statement = (
        select(AuditLog).order_by(created_at.desc(), col(AuditLog.id).desc()).limit(limit + 1)
    )
    if wanted.user_id is not None:
        statement = statement.where(col(AuditLog.user_id) == wanted.user_id)
    if wanted.action is not None:
        statement = statement.where(col(AuditLog.action) == wanted.action)
    if wanted.since is not None:
        statement = statement.where(created_at >= wanted.since)
    if wanted.until is not None:
        statement = statement.where(created_at < wanted.until)
    if cursor is not None:
        after_created_at, after_id = decode_cursor(cursor)
        statement = statement.where(
            tuple_(created_at, col(AuditLog.id)) < tuple_(after_created_at, after_id)
        )
    async with uow:
        entries = list((await uow.session.execute(statement)).scalars())
    has_more = len(entries) > limit
    entries = entries[:limit]
    return AuditLogPage(
        entries=entries,
        next_cursor=encode_cursor(entries[-1].created_at, entries[-1].id) if has_more else None,
    )
