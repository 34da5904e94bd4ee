"""A user's API keys: create, list, read, revoke and rotate.

The secret is shown once, in the answer to create or rotate, and kept only as its keyed hash.
A key starts `pending_verification` while its owner's email is unverified (the email flow
activates it), `active` otherwise; its tier is the owner's plan tier. Rotation issues a new key
with the same name, scopes and expiry and revokes the old one at once (no grace period: a
rotation is most often a response to a leak). Every change is audited and announced
(identity.apikey.created / .revoked) through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.api_key_secrets import ApiKeyKind, issue_secret
from identity.credentials.opaque_tokens import TokenDigester
from identity.domain.audit import AuditAction, record_audit
from identity.domain.idempotency import Issued, earlier_request, request_fingerprint
from identity.domain.plan_tiers import user_tier
from identity.domain.sessions import ClientInfo
from identity.models import ApiKey, ApiKeyStatus, TrialApiKey, TrialWorkspace, User
from lib_contracts.identity import ApiKeyCreated, ApiKeyRevoked
from lib_database import UnitOfWork
from lib_database.keyset import newest_first, page_of
from lib_web.problems import ConflictError, NotFoundError, ProblemError


class InvalidApiKeyRequestError(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(422, "Unprocessable Content", detail)


@dataclass(frozen=True, slots=True)
class ApiKeyPolicy:
    """What the settings allow: the scopes a key may have and how many keys a user may hold."""

    allowed_scopes: frozenset[str]
    keys_per_user: int


@dataclass(frozen=True, slots=True)
class NewApiKey:
    name: str
    scopes: Sequence[str]
    expires_at: datetime | None


IssuedApiKey = Issued[ApiKey]


def _now() -> datetime:
    return datetime.now(UTC)


def _check_request(policy: ApiKeyPolicy, request: NewApiKey) -> list[str]:
    """The scopes, deduplicated in the order given; 422 for unknown scopes or a past expiry."""
    unknown = sorted(set(request.scopes) - policy.allowed_scopes)
    if unknown:
        raise InvalidApiKeyRequestError(
            f"Unknown scopes {unknown}; allowed: {sorted(policy.allowed_scopes)}."
        )
    if request.expires_at is not None and request.expires_at <= _now():
        raise InvalidApiKeyRequestError("expiresAt must be in the future.")
    return list(dict.fromkeys(request.scopes))


async def _replay(
    db: AsyncSession, user_id: str, idempotency_key: str | None, fingerprint: str
) -> ApiKey | None:
    """The key an earlier request with this Idempotency-Key made, if any (422 if that request
    asked for something else)."""
    return await earlier_request(
        db, ApiKey, col(ApiKey.user_id) == user_id, idempotency_key, fingerprint
    )


async def _lock_owner(db: AsyncSession, user_id: str) -> User:
    # The owner's row lock makes one user's creates take turns: the per-user limit and the
    # Idempotency-Key lookup hold under concurrent requests.
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFoundError("No such user.")
    return user


async def _issue(
    uow: UnitOfWork,
    digester: TokenDigester,
    owner: User,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[ApiKey, str]:
    db = uow.session
    issued = issue_secret(digester, ApiKeyKind.USER)
    now = _now()
    key = ApiKey(
        user_id=owner.id,
        name=name,
        key_prefix=issued.visible_prefix,
        key_hash=issued.digest,
        status=(ApiKeyStatus.ACTIVE if owner.email_verified else ApiKeyStatus.PENDING_VERIFICATION),
        tier=await user_tier(db, owner.id),
        scopes=scopes,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint if idempotency_key else None,
    )
    db.add(key)
    uow.emit(
        ApiKeyCreated(
            api_key_id=key.id,
            user_id=owner.id,
            key_prefix=key.key_prefix,
            name=key.name,
            status=ApiKeyStatus(key.status).value,
            tier=key.tier,  # one of SubscriptionTier (plan_tiers)
            scopes=list(key.scopes),
            expires_at=key.expires_at,
            created_at=key.created_at,
        ),
        subject=key.id,
    )
    return key, issued.secret


async def create_api_key(
    uow: UnitOfWork,
    digester: TokenDigester,
    policy: ApiKeyPolicy,
    user_id: str,
    request: NewApiKey,
    client: ClientInfo,
    *,
    idempotency_key: str | None = None,
) -> IssuedApiKey:
    scopes = _check_request(policy, request)
    fingerprint = request_fingerprint(
        "create", {"name": request.name, "scopes": sorted(scopes), "expiresAt": request.expires_at}
    )
    async with uow:
        db = uow.session
        owner = await _lock_owner(db, user_id)
        earlier = await _replay(db, user_id, idempotency_key, fingerprint)
        if earlier is not None:
            return IssuedApiKey(earlier, None)
        held = (
            await db.execute(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.user_id == user_id, ApiKey.status != ApiKeyStatus.REVOKED)
            )
        ).scalar_one()
        if held >= policy.keys_per_user:
            raise ConflictError(
                f"At most {policy.keys_per_user} API keys may be held at once; revoke one first."
            )
        key, secret = await _issue(
            uow,
            digester,
            owner,
            name=request.name,
            scopes=scopes,
            expires_at=request.expires_at,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        record_audit(
            db,
            AuditAction.API_KEY_CREATED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=key.id,
            metadata={"name": key.name, "scopes": scopes, "keyPrefix": key.key_prefix},
        )
        await uow.commit()
    return IssuedApiKey(key, secret)


async def _own_key(db: AsyncSession, user_id: str, key_id: str, *, lock: bool = False) -> ApiKey:
    """The user's key; someone else's (or an unknown id) is 404, never 403."""
    key = await db.get(ApiKey, key_id, with_for_update=lock)
    if key is None or key.user_id != user_id:
        raise NotFoundError("No such API key.")
    return key


async def get_api_key(uow: UnitOfWork, user_id: str, key_id: str) -> ApiKey:
    async with uow:
        return await _own_key(uow.session, user_id, key_id)


def _revoke(uow: UnitOfWork, key: ApiKey, now: datetime) -> None:
    key.status = ApiKeyStatus.REVOKED
    key.revoked_at = now
    key.updated_at = now
    uow.emit(
        ApiKeyRevoked(
            api_key_id=key.id, user_id=key.user_id, key_prefix=key.key_prefix, revoked_at=now
        ),
        subject=key.id,
    )


async def revoke_api_key(uow: UnitOfWork, user_id: str, key_id: str, client: ClientInfo) -> ApiKey:
    """Revoke the key at once; revoking a revoked key changes nothing."""
    async with uow:
        db = uow.session
        key = await _own_key(db, user_id, key_id, lock=True)
        if key.status == ApiKeyStatus.REVOKED:
            return key
        _revoke(uow, key, _now())
        record_audit(
            db,
            AuditAction.API_KEY_REVOKED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=key.id,
            metadata={"keyPrefix": key.key_prefix},
        )
        await uow.commit()
    return key


async def rotate_api_key(
    uow: UnitOfWork,
    digester: TokenDigester,
    user_id: str,
    key_id: str,
    client: ClientInfo,
    *,
    idempotency_key: str | None = None,
) -> IssuedApiKey:
    """A new key in place of `key_id` (same name, scopes, expiry); the old one is revoked in
    the same transaction. Rotating a revoked key is 409."""
    fingerprint = request_fingerprint("rotate", {"from": key_id})
    async with uow:
        db = uow.session
        owner = await _lock_owner(db, user_id)
        earlier = await _replay(db, user_id, idempotency_key, fingerprint)
        if earlier is not None:
            return IssuedApiKey(earlier, None)
        old = await _own_key(db, user_id, key_id, lock=True)
        if old.status == ApiKeyStatus.REVOKED:
            raise ConflictError("A revoked API key cannot be rotated.")
        if old.expires_at is not None and old.expires_at <= _now():
            raise ConflictError("An expired API key cannot be rotated.")
        key, secret = await _issue(
            uow,
            digester,
            owner,
            name=old.name,
            scopes=list(old.scopes),
            expires_at=old.expires_at,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        _revoke(uow, old, key.created_at)
        record_audit(
            db,
            AuditAction.API_KEY_ROTATED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=old.id,
            metadata={"replacedBy": key.id, "keyPrefix": key.key_prefix},
        )
        await uow.commit()
    return IssuedApiKey(key, secret)


@dataclass(frozen=True, slots=True)
class ApiKeyPage:
    keys: list[ApiKey]
    next_cursor: str | None


async def list_api_keys(
    uow: UnitOfWork,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: ApiKeyStatus | None = None,
) -> ApiKeyPage:
    """The user's keys, newest first, in keyset pages."""
    query = select(ApiKey).where(ApiKey.user_id == user_id)
    if status is not None:
        query = query.where(ApiKey.status == status)
    query = newest_first(query, col(ApiKey.created_at), col(ApiKey.id), limit=limit, cursor=cursor)
    async with uow:
        found = list((await uow.session.execute(query)).scalars())
    keys, next_cursor = page_of(found, limit)
    return ApiKeyPage(keys=keys, next_cursor=next_cursor)


async def announce_keys_gone(uow: UnitOfWork, user_id: str) -> int:
    """Announce every live key of a user who is being deleted (their trial workspaces' too) as
    revoked (the rows go with the user), so caches elsewhere drop them at once; how many."""
    now = _now()
    keys = (
        await uow.session.execute(
            select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.status != ApiKeyStatus.REVOKED)
        )
    ).scalars()
    trial_keys = (
        await uow.session.execute(
            select(TrialApiKey)
            .join(TrialWorkspace, col(TrialWorkspace.id) == col(TrialApiKey.workspace_id))
            .where(TrialWorkspace.owner_id == user_id, TrialApiKey.status == "active")
        )
    ).scalars()
    announced = 0
    for key in [*keys, *trial_keys]:
        uow.emit(
            ApiKeyRevoked(
                api_key_id=key.id, user_id=user_id, key_prefix=key.key_prefix, revoked_at=now
            ),
            subject=key.id,
        )
        announced += 1
    return announced
