"""Tables of the identity service, all in its own `identity` schema (outbox and inbox too).

One table per concept, keeping every field the seeds give (User of seeds 000-004, Account,
Session, VerificationToken, ApiKey/ApiKeyMetadata, ApiCall, TrialWorkspace, TrialApiKey,
Referral, AuditLog). Secrets are never stored: keys and tokens as keyed hashes, provider
tokens encrypted (AES-GCM) with the id of the key that encrypted them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from lib_auth import Role
from lib_database import service_registry


class IdentityModel(SQLModel, registry=service_registry("identity")):
    """Base of every table of the identity service."""


metadata = IdentityModel.metadata


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def _ts() -> Any:
    """An optional timestamp column."""
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def _created_at() -> Any:
    return Field(default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False))


def _user_fk(*, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        sa_column=Column(
            Text,
            ForeignKey("identity.users.id", ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        )
    )


# The platform's roles (DESIGN.md) are lib_auth's; identity is where they are stored.
UserRole = Role


class ApiKeyStatus(StrEnum):
    """Seed 001's ApiKeyMetadata.status."""

    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    REVOKED = "revoked"


class TrialStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    CONVERTED = "converted"
    CANCELLED = "cancelled"


class TrialTier(StrEnum):
    STANDARD = "standard"
    ENTERPRISE = "enterprise"


class ReferralStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    INVALID = "INVALID"


class VerificationPurpose(StrEnum):
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"


class User(IdentityModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('USER', 'ADMIN', 'SUPER_ADMIN')", name="role"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    # Nullable: an OAuth-only account may come without an email (seed 004).
    email: str | None = Field(default=None, sa_column=Column(Text, unique=True, nullable=True))
    email_verified: datetime | None = _ts()
    name: str | None = None
    image: str | None = None
    company: str | None = None
    phone: str | None = None
    role: str = Field(default=UserRole.USER, sa_column=Column(Text, nullable=False))
    password_hash: str | None = None
    referral_code: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    referred_by_id: str | None = Field(
        default=None,
        sa_column=Column(Text, ForeignKey("identity.users.id", ondelete="SET NULL")),
    )
    referral_count: int = Field(default=0, nullable=False)
    # Bumped on every change; carried by identity.user.updated so consumers drop stale events.
    revision: int = Field(default=1, nullable=False)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class Account(IdentityModel, table=True):
    """An OAuth/OIDC provider account linked to a user (Auth.js shape, seeds 001/004)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider", "provider_account_id"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_fk()
    type: str
    provider: str
    provider_account_id: str
    # Provider tokens, AES-GCM encrypted with the row id as associated data.
    refresh_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    access_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    id_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    token_key_id: str | None = None
    expires_at: int | None = Field(default=None, sa_column=Column(BigInteger))
    token_type: str | None = None
    scope: str | None = None
    session_state: str | None = None
    created_at: datetime = _created_at()


class Session(IdentityModel, table=True):
    """A login session; its opaque refresh token is stored only as a keyed hash."""

    __tablename__ = "sessions"

    id: str = Field(default_factory=new_id, primary_key=True)
    # The hash of the session's current token (Auth.js' sessionToken, never stored in clear).
    session_token: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    user_id: str = _user_fk()
    expires: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = _created_at()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()
    ip_address: str | None = None
    user_agent: str | None = None


class SessionTokenHistory(IdentityModel, table=True):
    """Refresh tokens a session has rotated away from: presenting one again revokes it."""

    __tablename__ = "session_token_history"

    token_hash: str = Field(primary_key=True)
    session_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("identity.sessions.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    rotated_at: datetime = _created_at()


class VerificationToken(IdentityModel, table=True):
    """Single-use, expiring tokens (email verification, password reset), stored hashed."""

    __tablename__ = "verification_tokens"
    __table_args__ = (UniqueConstraint("identifier", "token"),)

    token: str = Field(primary_key=True)  # the keyed hash of the token sent
    identifier: str
    purpose: str = Field(default=VerificationPurpose.EMAIL_VERIFICATION, nullable=False)
    expires: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))
    # When it was mailed: the resend limits count recent tokens per address.
    created_at: datetime = _created_at()


class ApiKey(IdentityModel, table=True):
    """A developer API key (seeds 000/001/004); the secret is shown once, kept as a keyed hash."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("status IN ('pending_verification', 'active', 'revoked')", name="status"),
        # A retried create (same Idempotency-Key) finds the key it made the first time.
        UniqueConstraint("user_id", "idempotency_key"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str = _user_fk()
    name: str
    key_prefix: str = Field(index=True)
    key_hash: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    status: str = Field(default=ApiKeyStatus.PENDING_VERIFICATION, nullable=False)
    tier: str = Field(default="FREE", nullable=False)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    expires_at: datetime | None = _ts()
    last_used_at: datetime | None = _ts()
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()
    revoked_at: datetime | None = _ts()
    # The client's Idempotency-Key of the request that made the key, and a hash of that
    # request, so a retry with another body is told apart from a replay.
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


class ApiKeyRateWindow(IdentityModel, table=True):
    """Calls counted against one key in one fixed window; shared by every identity replica,
    so a key's limit holds however many of them answer. Pruned by a scheduled job."""

    __tablename__ = "api_key_rate_windows"
    __table_args__ = (Index("ix_api_key_rate_windows_start", "window_start"),)

    # An api_keys or a trial_api_keys id: no foreign key, the counter outlives neither long.
    api_key_id: str = Field(primary_key=True)
    window_kind: str = Field(primary_key=True)  # "minute" or "day"
    window_start: datetime = Field(
        sa_column=Column(DateTime(timezone=True), primary_key=True, nullable=False)
    )
    count: int = Field(default=0, nullable=False)


class PlanSubscription(IdentityModel, table=True):
    """Identity's projection of billing's subscriptions (billing.subscription.updated): the
    tier a user's API keys get. `revision` drops events that arrive out of order."""

    __tablename__ = "plan_subscriptions"

    subscription_id: str = Field(primary_key=True)
    user_id: str = _user_fk()
    tier: str
    status: str
    api_access: bool
    revision: int
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ApiCall(IdentityModel, table=True):
    """One call made with an API key, as reported by the service that served it (seed 001)."""

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_key_time", "api_key_id", "created_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    api_key_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("identity.api_keys.id", ondelete="CASCADE"), nullable=False
        )
    )
    endpoint: str
    method: str
    status_code: int
    latency_ms: int
    request_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    created_at: datetime = _created_at()


class TrialWorkspace(IdentityModel, table=True):
    __tablename__ = "trial_workspaces"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'expired', 'converted', 'cancelled')", name="status"),
        CheckConstraint("tier IN ('standard', 'enterprise')", name="tier"),
        UniqueConstraint("owner_id", "idempotency_key"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    slug: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    tier: str = Field(default=TrialTier.STANDARD, nullable=False)
    status: str = Field(default=TrialStatus.ACTIVE, nullable=False, index=True)
    created_at: datetime = _created_at()
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )
    converted_at: datetime | None = _ts()
    cancelled_at: datetime | None = _ts()
    owner_id: str = _user_fk()
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


class TrialApiKey(IdentityModel, table=True):
    __tablename__ = "trial_api_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "idempotency_key"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    workspace_id: str = Field(
        sa_column=Column(
            Text,
            ForeignKey("identity.trial_workspaces.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    key_prefix: str
    key_hash: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    label: str | None = None
    status: str = Field(default="active", nullable=False)
    created_at: datetime = _created_at()
    revoked_at: datetime | None = _ts()
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


class Referral(IdentityModel, table=True):
    __tablename__ = "referrals"

    id: str = Field(default_factory=new_id, primary_key=True)
    referrer_id: str = _user_fk()
    referee_id: str = Field(
        sa_column=Column(
            Text, ForeignKey("identity.users.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    status: str = Field(default=ReferralStatus.PENDING, nullable=False)
    tokens_granted: int = Field(default=0, nullable=False)
    ip_address: str | None = None
    created_at: datetime = _created_at()
    completed_at: datetime | None = _ts()


class AuditLog(IdentityModel, table=True):
    """Security events with the IP they came from; kept when the user is deleted (anonymised)."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        # Admins list the log newest first, whole or by user or action.
        Index("ix_audit_logs_user_time", "user_id", "created_at"),
        Index("ix_audit_logs_action_time", "action", "created_at"),
        Index("ix_audit_logs_time", "created_at"),
        # The login throttle counts recent LOGIN_FAILED rows per attempted email and per IP.
        Index(
            "ix_audit_logs_login_failed_email_time",
            text("(metadata ->> 'email')"),
            "created_at",
            postgresql_where=text("action = 'LOGIN_FAILED'"),
        ),
        Index(
            "ix_audit_logs_login_failed_ip_time",
            "ip_address",
            "created_at",
            postgresql_where=text("action = 'LOGIN_FAILED'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    user_id: str | None = Field(
        default=None,
        sa_column=Column(Text, ForeignKey("identity.users.id", ondelete="SET NULL")),
    )
    action: str
    target_id: str | None = None
    metadata_: dict[str, Any] | None = Field(
        default=None, sa_column=Column("metadata", JSONB, nullable=True)
    )
    ip_address: str | None = None
    created_at: datetime = _created_at()
