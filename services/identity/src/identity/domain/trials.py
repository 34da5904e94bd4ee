"""Trial workspaces (seed 001): opened by a user, with API keys of their own that verify only
while the workspace is `active`.

A workspace ends once, in one of three ways: `expired` (the worker's job, past `expiresAt`),
`converted` (its owner took a paid plan: billing.subscription.updated) or `cancelled` (by its
owner). Ending revokes its keys and announces each revocation (identity.apikey.revoked), so
the other services' key caches drop them at once, besides the trial event itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.api_key_secrets import ApiKeyKind, issue_secret
from identity.credentials.opaque_tokens import TokenDigester
from identity.domain.audit import AuditAction, record_audit
from identity.domain.idempotency import Issued, earlier_request, request_fingerprint
from identity.domain.sessions import ClientInfo
from identity.models import TrialApiKey, TrialStatus, TrialTier, TrialWorkspace, User
from lib_contracts.identity import (
    ApiKeyRevoked,
    TrialCancelled,
    TrialConverted,
    TrialCreated,
    TrialExpired,
)
from lib_database import UnitOfWork
from lib_database.keyset import newest_first, page_of
from lib_web.problems import ConflictError, NotFoundError, ProblemError

TRIAL_KEY_ACTIVE = "active"
TRIAL_KEY_REVOKED = "revoked"
EXPIRY_BATCH = 100


class InvalidTrialRequestError(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(422, "Unprocessable Content", detail)


@dataclass(frozen=True, slots=True)
class TrialPolicy:
    trial_days: int
    max_days: int
    trials_per_user: int
    keys_per_workspace: int


@dataclass(frozen=True, slots=True)
class NewTrial:
    name: str
    slug: str
    tier: TrialTier
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class OpenedTrial:
    workspace: TrialWorkspace
    replayed: bool


IssuedTrialKey = Issued[TrialApiKey]


def _now() -> datetime:
    return datetime.now(UTC)


def _expiry(policy: TrialPolicy, requested: datetime | None, now: datetime) -> datetime:
    if requested is None:
        return now + timedelta(days=policy.trial_days)
    if requested <= now:
        raise InvalidTrialRequestError("expiresAt must be in the future.")
    if requested > now + timedelta(days=policy.max_days):
        raise InvalidTrialRequestError(f"A trial lasts at most {policy.max_days} days.")
    return requested


async def create_trial(
    uow: UnitOfWork,
    policy: TrialPolicy,
    user_id: str,
    request: NewTrial,
    *,
    idempotency_key: str | None = None,
) -> OpenedTrial:
    now = _now()
    expires_at = _expiry(policy, request.expires_at, now)
    fingerprint = request_fingerprint(
        "trial",
        {
            "name": request.name,
            "slug": request.slug,
            "tier": request.tier,
            "expiresAt": request.expires_at,
        },
    )
    async with uow:
        db = uow.session
        # One user's creates take turns: the per-user limit and the replay lookup hold.
        if await db.get(User, user_id, with_for_update=True) is None:
            raise NotFoundError("No such user.")
        earlier = await earlier_request(
            db,
            TrialWorkspace,
            col(TrialWorkspace.owner_id) == user_id,
            idempotency_key,
            fingerprint,
        )
        if earlier is not None:
            return OpenedTrial(earlier, replayed=True)
        active = (
            await db.execute(
                select(func.count())
                .select_from(TrialWorkspace)
                .where(
                    TrialWorkspace.owner_id == user_id,
                    TrialWorkspace.status == TrialStatus.ACTIVE,
                )
            )
        ).scalar_one()
        if active >= policy.trials_per_user:
            raise ConflictError(
                f"At most {policy.trials_per_user} active trial workspace(s) at once."
            )
        taken = await db.execute(
            select(col(TrialWorkspace.id)).where(TrialWorkspace.slug == request.slug)
        )
        if taken.first() is not None:
            raise ConflictError("This slug is taken.")
        workspace = TrialWorkspace(
            name=request.name,
            slug=request.slug,
            tier=request.tier,
            status=TrialStatus.ACTIVE,
            created_at=now,
            expires_at=expires_at,
            owner_id=user_id,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint if idempotency_key else None,
        )
        db.add(workspace)
        uow.emit(
            TrialCreated(
                workspace_id=workspace.id,
                user_id=user_id,
                name=workspace.name,
                slug=workspace.slug,
                tier=request.tier.value,
                created_at=now,
                expires_at=expires_at,
            ),
            subject=workspace.id,
        )
        try:
            await uow.commit()
        except IntegrityError:
            # Another user's workspace took the slug between our check and our insert.
            raise ConflictError("This slug is taken.") from None
    return OpenedTrial(workspace, replayed=False)


async def _own_workspace(
    db: AsyncSession, user_id: str, workspace_id: str, *, lock: bool = False
) -> TrialWorkspace:
    workspace = await db.get(TrialWorkspace, workspace_id, with_for_update=lock)
    if workspace is None or workspace.owner_id != user_id:
        raise NotFoundError("No such trial workspace.")
    return workspace


async def get_trial(uow: UnitOfWork, user_id: str, workspace_id: str) -> TrialWorkspace:
    async with uow:
        return await _own_workspace(uow.session, user_id, workspace_id)


@dataclass(frozen=True, slots=True)
class TrialPage:
    workspaces: list[TrialWorkspace]
    next_cursor: str | None


async def list_trials(
    uow: UnitOfWork,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: TrialStatus | None = None,
) -> TrialPage:
    query = select(TrialWorkspace).where(TrialWorkspace.owner_id == user_id)
    if status is not None:
        query = query.where(TrialWorkspace.status == status)
    query = newest_first(
        query, col(TrialWorkspace.created_at), col(TrialWorkspace.id), limit=limit, cursor=cursor
    )
    async with uow:
        found = list((await uow.session.execute(query)).scalars())
    workspaces, next_cursor = page_of(found, limit)
    return TrialPage(workspaces=workspaces, next_cursor=next_cursor)


def _announce_key_revoked(uow: UnitOfWork, key: TrialApiKey, owner_id: str) -> None:
    uow.emit(
        ApiKeyRevoked(
            api_key_id=key.id,
            user_id=owner_id,
            key_prefix=key.key_prefix,
            revoked_at=key.revoked_at or _now(),
        ),
        subject=key.id,
    )


async def _end(uow: UnitOfWork, workspace: TrialWorkspace, status: TrialStatus) -> None:
    """End an active workspace: its status, its keys revoked and announced, its event."""
    db = uow.session
    now = _now()
    workspace.status = status
    if status is TrialStatus.CONVERTED:
        workspace.converted_at = now
        uow.emit(
            TrialConverted(
                workspace_id=workspace.id,
                user_id=workspace.owner_id,
                tier=TrialTier(workspace.tier).value,
                converted_at=now,
            ),
            subject=workspace.id,
        )
    elif status is TrialStatus.CANCELLED:
        workspace.cancelled_at = now
        uow.emit(
            TrialCancelled(workspace_id=workspace.id, user_id=workspace.owner_id, cancelled_at=now),
            subject=workspace.id,
        )
    else:
        uow.emit(
            TrialExpired(
                workspace_id=workspace.id,
                user_id=workspace.owner_id,
                # When it ran out, not when the job noticed.
                expired_at=min(workspace.expires_at, now),
            ),
            subject=workspace.id,
        )
    keys = (
        await db.execute(
            select(TrialApiKey)
            .where(
                TrialApiKey.workspace_id == workspace.id,
                TrialApiKey.status == TRIAL_KEY_ACTIVE,
            )
            .with_for_update()
        )
    ).scalars()
    for key in keys:
        key.status = TRIAL_KEY_REVOKED
        key.revoked_at = now
        _announce_key_revoked(uow, key, workspace.owner_id)


async def cancel_trial(uow: UnitOfWork, user_id: str, workspace_id: str) -> TrialWorkspace:
    """Cancel an active workspace (cancelling a cancelled one changes nothing; an expired or
    converted one is 409)."""
    async with uow:
        workspace = await _own_workspace(uow.session, user_id, workspace_id, lock=True)
        if workspace.status == TrialStatus.CANCELLED:
            return workspace
        if workspace.status != TrialStatus.ACTIVE:
            raise ConflictError(f"The trial workspace is {workspace.status}.")
        await _end(uow, workspace, TrialStatus.CANCELLED)
        await uow.commit()
    return workspace


async def convert_trials(uow: UnitOfWork, user_id: str) -> int:
    """The user took a paid plan: their active workspaces become `converted` (inside the
    caller's transaction); how many."""
    workspaces = (
        await uow.session.execute(
            select(TrialWorkspace)
            .where(
                TrialWorkspace.owner_id == user_id,
                TrialWorkspace.status == TrialStatus.ACTIVE,
            )
            .with_for_update()
        )
    ).scalars()
    converted = 0
    for workspace in list(workspaces):
        await _end(uow, workspace, TrialStatus.CONVERTED)
        converted += 1
    return converted


async def expire_due_trials(
    uow_factory: Callable[[], UnitOfWork], *, now: datetime | None = None
) -> int:
    """The scheduled job: every active workspace past its expiresAt becomes `expired`, a small
    batch per transaction (rows another run holds are skipped, not waited for); how many."""
    expired = 0
    while True:
        async with uow_factory() as uow:
            due = list(
                (
                    await uow.session.execute(
                        select(TrialWorkspace)
                        .where(
                            TrialWorkspace.status == TrialStatus.ACTIVE,
                            col(TrialWorkspace.expires_at) <= (now or _now()),
                        )
                        .order_by(col(TrialWorkspace.expires_at))
                        .limit(EXPIRY_BATCH)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            for workspace in due:
                await _end(uow, workspace, TrialStatus.EXPIRED)
            await uow.commit()
        expired += len(due)
        if len(due) < EXPIRY_BATCH:
            return expired


async def create_trial_key(
    uow: UnitOfWork,
    digester: TokenDigester,
    policy: TrialPolicy,
    user_id: str,
    workspace_id: str,
    label: str | None,
    client: ClientInfo,
    *,
    idempotency_key: str | None = None,
) -> IssuedTrialKey:
    fingerprint = request_fingerprint("trial-key", {"label": label})
    async with uow:
        db = uow.session
        workspace = await _own_workspace(db, user_id, workspace_id, lock=True)
        earlier = await earlier_request(
            db,
            TrialApiKey,
            col(TrialApiKey.workspace_id) == workspace_id,
            idempotency_key,
            fingerprint,
        )
        if earlier is not None:
            return IssuedTrialKey(earlier, None)
        if workspace.status != TrialStatus.ACTIVE or workspace.expires_at <= _now():
            raise ConflictError("Keys are issued only while the trial workspace is active.")
        held = (
            await db.execute(
                select(func.count())
                .select_from(TrialApiKey)
                .where(
                    TrialApiKey.workspace_id == workspace_id,
                    TrialApiKey.status == TRIAL_KEY_ACTIVE,
                )
            )
        ).scalar_one()
        if held >= policy.keys_per_workspace:
            raise ConflictError(
                f"At most {policy.keys_per_workspace} keys per trial workspace; revoke one first."
            )
        issued = issue_secret(digester, ApiKeyKind.TRIAL)
        key = TrialApiKey(
            workspace_id=workspace_id,
            key_prefix=issued.visible_prefix,
            key_hash=issued.digest,
            label=label,
            status=TRIAL_KEY_ACTIVE,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint if idempotency_key else None,
        )
        db.add(key)
        record_audit(
            db,
            AuditAction.API_KEY_CREATED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=key.id,
            metadata={"trialWorkspaceId": workspace_id, "keyPrefix": key.key_prefix},
        )
        await uow.commit()
    return IssuedTrialKey(key, issued.secret)


@dataclass(frozen=True, slots=True)
class TrialKeyPage:
    keys: list[TrialApiKey]
    next_cursor: str | None


async def list_trial_keys(
    uow: UnitOfWork, user_id: str, workspace_id: str, *, limit: int, cursor: str | None
) -> TrialKeyPage:
    query = newest_first(
        select(TrialApiKey).where(TrialApiKey.workspace_id == workspace_id),
        col(TrialApiKey.created_at),
        col(TrialApiKey.id),
        limit=limit,
        cursor=cursor,
    )
    async with uow:
        await _own_workspace(uow.session, user_id, workspace_id)
        found = list((await uow.session.execute(query)).scalars())
    keys, next_cursor = page_of(found, limit)
    return TrialKeyPage(keys=keys, next_cursor=next_cursor)


async def revoke_trial_key(
    uow: UnitOfWork, user_id: str, workspace_id: str, key_id: str, client: ClientInfo
) -> TrialApiKey:
    async with uow:
        db = uow.session
        await _own_workspace(db, user_id, workspace_id)
        key = await db.get(TrialApiKey, key_id, with_for_update=True)
        if key is None or key.workspace_id != workspace_id:
            raise NotFoundError("No such trial API key.")
        if key.status == TRIAL_KEY_REVOKED:
            return key
        key.status = TRIAL_KEY_REVOKED
        key.revoked_at = _now()
        _announce_key_revoked(uow, key, user_id)
        record_audit(
            db,
            AuditAction.API_KEY_REVOKED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=key.id,
            metadata={"trialWorkspaceId": workspace_id, "keyPrefix": key.key_prefix},
        )
        await uow.commit()
    return key
