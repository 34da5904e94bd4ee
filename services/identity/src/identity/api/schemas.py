"""Request and response bodies of identity's routes (camelCase JSON; never a table model).

Requests forbid unknown fields, so `role` or `emailVerified` in a body is a 422 and changes
nothing. Responses name exactly what they show: no hash ever appears in one.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from identity.domain.api_key_usage import KeyUsage
from identity.domain.api_keys import IssuedApiKey
from identity.domain.referrals import ReferralEntry
from identity.domain.sessions import TokenGrant
from identity.domain.trials import IssuedTrialKey
from identity.models import (
    Account,
    ApiKey,
    AuditLog,
    Session,
    TrialApiKey,
    TrialTier,
    TrialWorkspace,
    User,
    UserRole,
)

_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email_shaped(value: str) -> str:
    value = value.strip()
    if not _EMAIL_SHAPE.fullmatch(value):
        raise ValueError("not an email address")
    return value


EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(_email_shaped)]
# An upper bound too: hashing a megabyte-long "password" is a cheap way to burn our CPU.
NewPassword = Annotated[str, Field(min_length=10, max_length=256)]
Password = Annotated[str, Field(min_length=1, max_length=256)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]
ProfileText = Annotated[str, Field(max_length=200)]


class RequestBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")


class ResponseBody(BaseModel):
    # from_attributes: a response is read straight from its table row, field by field.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


T = TypeVar("T")


class Page(ResponseBody, Generic[T]):
    """One page of a list, newest first."""

    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class RegisterRequest(RequestBody):
    email: EmailAddress
    password: NewPassword
    name: ProfileText | None = None
    referral_code: Annotated[str, Field(max_length=64)] | None = None


class LoginRequest(RequestBody):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Password


class RefreshTokenRequest(RequestBody):
    refresh_token: OpaqueToken


class VerifyEmailRequest(RequestBody):
    token: OpaqueToken


class PasswordResetRequest(RequestBody):
    email: Annotated[str, Field(min_length=1, max_length=254)]


class PasswordResetConfirmRequest(RequestBody):
    token: OpaqueToken
    new_password: NewPassword


class PasswordChangeRequest(RequestBody):
    current_password: Password
    new_password: NewPassword


class AcceptedResponse(ResponseBody):
    """The answer of a request whose outcome is not told (e.g. whether a mail went out)."""

    status: Literal["accepted"] = "accepted"
    detail: str


class ReferralResponse(ResponseBody):
    id: str
    status: str = Field(description="PENDING until the referee verifies their email")
    referee_email: str | None = Field(description="shown in part only, e.g. `a***@example.com`")
    tokens_granted: int
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, entry: ReferralEntry) -> ReferralResponse:
        return cls.model_validate(entry)


class ProfileUpdateRequest(RequestBody):
    """Only the fields sent are changed; `null` clears one."""

    name: ProfileText | None = None
    image: Annotated[str, Field(max_length=2048)] | None = None
    company: ProfileText | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None


class RoleChangeRequest(RequestBody):
    role: UserRole


class UserResponse(ResponseBody):
    id: str
    email: str | None
    email_verified: datetime | None
    name: str | None
    image: str | None
    company: str | None
    phone: str | None
    role: str
    referral_code: str
    referred_by_id: str | None
    referral_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserResponse:
        return cls.model_validate(user)


class TokenResponse(ResponseBody):
    user: UserResponse
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")

    @classmethod
    def of(cls, grant: TokenGrant) -> TokenResponse:
        return cls(
            user=UserResponse.of(grant.user),
            access_token=grant.access_token.token,
            refresh_token=grant.refresh_token,
            expires_in=grant.access_token.expires_in,
        )


class SessionResponse(ResponseBody):
    id: str
    created_at: datetime
    last_used_at: datetime | None
    expires: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool = Field(description="the session of the access token making this request")

    @classmethod
    def of(cls, session: Session, *, current_session_id: str) -> SessionResponse:
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires=session.expires,
            ip_address=session.ip_address,
            user_agent=session.user_agent,
            current=session.id == current_session_id,
        )


class AuditLogResponse(ResponseBody):
    id: str
    user_id: str | None = Field(description="who acted (null once that user is deleted)")
    action: str
    target_id: str | None
    metadata: dict[str, Any] | None = Field(validation_alias="metadata_")  # the row's name
    ip_address: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditLog) -> AuditLogResponse:
        return cls.model_validate(entry)


class LinkedAccountResponse(ResponseBody):
    """A linked provider account; its provider tokens are never shown."""

    id: str
    type: str
    provider: str
    provider_account_id: str
    scope: str | None
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> LinkedAccountResponse:
        return cls.model_validate(account)


class AuthorizationUrlResponse(ResponseBody):
    authorization_url: str = Field(description="where to send the browser next")


ScopeName = Annotated[str, Field(min_length=1, max_length=100)]


class ApiKeyCreateRequest(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: list[ScopeName] = Field(default_factory=list, max_length=50)
    expires_at: AwareDatetime | None = Field(default=None, description="must be in the future")


class ApiKeyResponse(ResponseBody):
    """An API key as its owner sees it: never its hash, never its secret."""

    id: str
    name: str
    key_prefix: str = Field(description="the key's first characters, to recognise it by")
    status: str = Field(description="`pending_verification`, `active` or `revoked`")
    tier: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyResponse:
        return cls.model_validate(key)


class IssuedApiKeyResponse(ApiKeyResponse):
    """The answer to a create or rotate: the one time the secret is shown."""

    key: str | None = Field(
        description="the secret; shown in this answer only. Null when the request was a "
        "replay of an earlier one with the same Idempotency-Key (the secret is not kept: "
        "rotate the key if the first answer was lost)"
    )

    @classmethod
    def of_issued(cls, issued: IssuedApiKey) -> IssuedApiKeyResponse:
        shown = ApiKeyResponse.of(issued.key).model_dump()
        return cls(**shown, key=issued.secret)


class DailyUsageResponse(ResponseBody):
    day: date
    calls: int
    errors: int = Field(description="calls answered with a 4xx or 5xx status")
    error_rate: float
    p50_latency_ms: float | None
    p95_latency_ms: float | None


class ApiKeyUsageResponse(ResponseBody):
    api_key_id: str
    since: date
    total_calls: int
    error_rate: float
    days: list[DailyUsageResponse] = Field(description="one per UTC day, oldest first")

    @classmethod
    def of(cls, usage: KeyUsage) -> ApiKeyUsageResponse:
        calls = sum(d.calls for d in usage.days)
        errors = sum(d.errors for d in usage.days)
        return cls(
            api_key_id=usage.api_key_id,
            since=usage.since,
            total_calls=calls,
            error_rate=errors / calls if calls else 0.0,
            days=[
                DailyUsageResponse(
                    day=d.day,
                    calls=d.calls,
                    errors=d.errors,
                    error_rate=d.error_rate,
                    p50_latency_ms=d.p50_latency_ms,
                    p95_latency_ms=d.p95_latency_ms,
                )
                for d in usage.days
            ],
        )


# Lowercase letters, digits and inner hyphens: safe in a URL and a subdomain.
Slug = Annotated[
    str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])$")
]


class TrialCreateRequest(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    slug: Slug
    tier: TrialTier = TrialTier.STANDARD
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the trial ends; default and maximum are configured"
    )


class TrialResponse(ResponseBody):
    id: str
    name: str
    slug: str
    tier: str = Field(description="`standard` or `enterprise`")
    status: str = Field(description="`active`, `expired`, `converted` or `cancelled`")
    created_at: datetime
    expires_at: datetime
    converted_at: datetime | None
    cancelled_at: datetime | None

    @classmethod
    def of(cls, workspace: TrialWorkspace) -> TrialResponse:
        return cls.model_validate(workspace)


class TrialKeyCreateRequest(RequestBody):
    label: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class TrialKeyResponse(ResponseBody):
    """A trial workspace's API key: never its hash, never its secret."""

    id: str
    workspace_id: str
    key_prefix: str
    label: str | None
    status: str = Field(description="`active` or `revoked`")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: TrialApiKey) -> TrialKeyResponse:
        return cls.model_validate(key)


class IssuedTrialKeyResponse(TrialKeyResponse):
    key: str | None = Field(
        description="the secret; shown in this answer only (null on an Idempotency-Key replay)"
    )

    @classmethod
    def of_issued(cls, issued: IssuedTrialKey) -> IssuedTrialKeyResponse:
        return cls(**TrialKeyResponse.of(issued.key).model_dump(), key=issued.secret)
