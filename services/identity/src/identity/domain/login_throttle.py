"""Brute-force protection of the password login, counted from the audit log's LOGIN_FAILED rows.

The rows live in the database every replica shares, so the limits hold across replicas with no
extra store. Two limits: failures for one email (whether or not an account has it, so a 429
tells nothing about existence) and failures from one IP address. A failure stops counting when
it is older than the window; a successful login does not erase it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from identity.config import IdentitySettings
from identity.domain.audit import AuditAction
from identity.domain.errors import TooManyLoginFailuresError
from identity.models import AuditLog

# The key of the attempted (normalised) email in a LOGIN_FAILED row's metadata.
ATTEMPTED_EMAIL_KEY = "email"


# Inlined constants, not bound parameters: the planner matches the partial expression indexes of
# migration 0003 only against these literal forms (a prepared statement's generic plan would not).
_ATTEMPTED_EMAIL = col(AuditLog.metadata_).op("->>")(literal_column(f"'{ATTEMPTED_EMAIL_KEY}'"))
_IS_LOGIN_FAILURE = col(AuditLog.action) == literal_column(f"'{AuditAction.LOGIN_FAILED}'")


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    max_failures_per_email: int
    max_failures_per_ip: int
    window_s: int

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> LoginThrottle:
        return cls(
            max_failures_per_email=settings.login_max_failures,
            max_failures_per_ip=settings.login_max_failures_per_ip,
            window_s=settings.login_failure_window_s,
        )

    async def check(self, db: AsyncSession, *, email: str, ip_address: str | None) -> None:
        """Raise TooManyLoginFailuresError if either limit is reached. Concurrent attempts may
        overshoot a limit by a few: the count is read without a lock, which is good enough to
        stop guessing at scale."""
        now = datetime.now(UTC)
        since = now - timedelta(seconds=self.window_s)
        retry_after = await self._retry_after_s(
            db,
            _ATTEMPTED_EMAIL == email,  # noqa: SIM300 (an SQL expression, not a constant)
            self.max_failures_per_email,
            since=since,
            now=now,
        )
        if retry_after is None and ip_address is not None:
            retry_after = await self._retry_after_s(
                db,
                col(AuditLog.ip_address) == ip_address,
                self.max_failures_per_ip,
                since=since,
                now=now,
            )
        if retry_after is not None:
            raise TooManyLoginFailuresError(retry_after_s=retry_after)

    async def _retry_after_s(
        self,
        db: AsyncSession,
        matching: ColumnElement[bool],
        limit: int,
        *,
        since: datetime,
        now: datetime,
    ) -> int | None:
        """Seconds until fewer than `limit` failures matching remain in the window, or None if
        there are already fewer: the limit-th newest failure is the one that must expire."""
        created_at = col(AuditLog.created_at)
        expiring = (
            await db.execute(
                select(created_at)
                .where(_IS_LOGIN_FAILURE, created_at > since)
                .where(matching)
                .order_by(created_at.desc())
                .offset(limit - 1)
                .limit(1)
            )
        ).scalar_one_or_none()
        if expiring is None:
            return None
        remaining = (expiring + timedelta(seconds=self.window_s) - now).total_seconds()
        return max(1, math.ceil(remaining))


async def forget_attempted_emails(db: AsyncSession, user_id: str, email: str | None) -> None:
    """Strip a deleted user's email (or the `user:<id>` stand-in of an email-less account)
    from the failed-login rows that name it; the rows, with their IPs, stay in the log."""
    named = [f"user:{user_id}"] + ([email] if email is not None else [])
    await db.execute(
        update(AuditLog)
        .where(_IS_LOGIN_FAILURE, _ATTEMPTED_EMAIL.in_(named))
        .values(
            metadata_=col(AuditLog.metadata_).op("-")(literal_column(f"'{ATTEMPTED_EMAIL_KEY}'"))
        )
        .execution_options(synchronize_session=False)
    )
