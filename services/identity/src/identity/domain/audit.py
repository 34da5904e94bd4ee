"""Security events written to audit_logs in the transaction of the change they describe."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import AuditLog


class AuditAction(StrEnum):
    ACCOUNT_LINKED = "ACCOUNT_LINKED"
    ACCOUNT_LINK_REFUSED = "ACCOUNT_LINK_REFUSED"
    ACCOUNT_UNLINKED = "ACCOUNT_UNLINKED"
    API_KEY_CREATED = "API_KEY_CREATED"
    API_KEY_REVOKED = "API_KEY_REVOKED"
    API_KEY_ROTATED = "API_KEY_ROTATED"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGOUT = "LOGOUT"
    ROLE_CHANGED = "ROLE_CHANGED"
    SESSION_REVOKED = "SESSION_REVOKED"
    USER_DELETED = "USER_DELETED"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET_COMPLETED = "PASSWORD_RESET_COMPLETED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"


def record_audit(
    session: AsyncSession,
    action: AuditAction,
    *,
    user_id: str | None,
    ip_address: str | None,
    target_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            user_id=user_id,
            action=action,
            target_id=target_id,
            metadata_=metadata,
            ip_address=ip_address,
        )
    )
