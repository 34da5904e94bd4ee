"""The signed-in user's own account: read, edit the profile, delete."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete
from sqlmodel import col

from identity.domain.api_keys import announce_keys_gone
from identity.domain.audit import AuditAction, record_audit
from identity.domain.login_throttle import forget_attempted_emails
from identity.domain.sessions import ClientInfo, user_of_active_session
from identity.models import User, VerificationToken
from lib_contracts.identity import UserDeleted, UserUpdated
from lib_database import UnitOfWork
from lib_web.problems import NotFoundError

# What a user may change about themselves; role, email and verification are not among them.
EDITABLE_PROFILE_FIELDS = frozenset({"name", "image", "company", "phone"})

ContractRole = Literal["USER", "ADMIN", "SUPER_ADMIN"]


def _contract_role(role: str) -> ContractRole:
    if role == "ADMIN":
        return "ADMIN"
    if role == "SUPER_ADMIN":
        return "SUPER_ADMIN"
    return "USER"


def user_updated(user: User) -> UserUpdated:
    """The full snapshot of `user` that UserUpdated carries (call after bumping `revision`)."""
    return UserUpdated(
        user_id=user.id,
        revision=user.revision,
        updated_at=user.updated_at,
        email=user.email,
        name=user.name,
        image=user.image,
        phone=user.phone,
        company=user.company,
        role=_contract_role(user.role),
        email_verified_at=user.email_verified,
    )


async def get_signed_in_user(uow: UnitOfWork, user_id: str, session_id: str) -> User | None:
    """The user, if the session their token names is still active."""
    async with uow:
        return await user_of_active_session(uow.session, user_id=user_id, session_id=session_id)


async def get_user(uow: UnitOfWork, user_id: str) -> User:
    async with uow:
        user = await uow.session.get(User, user_id)
    if user is None:
        raise NotFoundError("No such user.")
    return user


async def update_profile(uow: UnitOfWork, user_id: str, changes: Mapping[str, Any]) -> User:
    """Apply the given profile fields; a real change bumps `revision` and emits UserUpdated."""
    unknown = set(changes) - EDITABLE_PROFILE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    async with uow:
        db = uow.session
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("No such user.")
        changed = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if not changed:
            return user
        for field, value in changed.items():
            setattr(user, field, value)
        user.revision += 1
        user.updated_at = datetime.now(UTC)
        uow.emit(user_updated(user), subject=user.id)
        await uow.commit()
    return user


async def delete_user(uow: UnitOfWork, user_id: str, client: ClientInfo) -> None:
    """Delete the user; sessions, accounts, keys, trials and referrals go with it (ON DELETE
    CASCADE), audit rows stay with the user id cleared (ON DELETE SET NULL) and the email
    taken out of failed-login rows."""
    async with uow:
        db = uow.session
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("No such user.")
        if user.email is not None:  # mailed tokens name the address, not the user
            await db.execute(
                delete(VerificationToken).where(col(VerificationToken.identifier) == user.email)
            )
        await forget_attempted_emails(db, user_id, user.email)
        await announce_keys_gone(uow, user_id)
        await db.delete(user)
        await db.flush()
        # Written after the delete, so it keeps the (opaque) id only as its target.
        record_audit(
            db,
            AuditAction.USER_DELETED,
            user_id=None,
            ip_address=client.ip_address,
            target_id=user_id,
        )
        uow.emit(UserDeleted(user_id=user_id, deleted_at=datetime.now(UTC)), subject=user_id)
        await uow.commit()
