"""What admins do with other users' accounts: search them, change their role.

Admins may change USER accounts only; granting or revoking ADMIN or SUPER_ADMIN takes a
SUPER_ADMIN, and nobody changes their own role (an admin cannot lock themselves out, nor
raise themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, tuple_
from sqlmodel import col, select

from identity.domain.audit import AuditAction, record_audit
from identity.domain.sessions import ClientInfo
from identity.domain.users import user_updated
from identity.models import User, UserRole
from lib_database import UnitOfWork
from lib_database.keyset import decode_cursor, encode_cursor
from lib_web.problems import ForbiddenError, NotFoundError

PRIVILEGED_ROLES = frozenset({UserRole.ADMIN, UserRole.SUPER_ADMIN})


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


def _contains(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_users(
    uow: UnitOfWork, *, query: str | None, role: UserRole | None, limit: int, cursor: str | None
) -> UserPage:
    """Users whose email or name contains `query` (any case), newest first."""
    statement = (
        select(User).order_by(col(User.created_at).desc(), col(User.id).desc()).limit(limit + 1)
    )
    if query:
        pattern = _contains(query)
        statement = statement.where(
            or_(
                col(User.email).ilike(pattern, escape="\\"),
                col(User.name).ilike(pattern, escape="\\"),
            )
        )
    if role is not None:
        statement = statement.where(col(User.role) == role)
    if cursor is not None:
        created_at, user_id = decode_cursor(cursor)
        statement = statement.where(
            tuple_(col(User.created_at), col(User.id)) < tuple_(created_at, user_id)
        )
    async with uow:
        users = list((await uow.session.execute(statement)).scalars())
    has_more = len(users) > limit
    users = users[:limit]
    return UserPage(
        users=users,
        next_cursor=encode_cursor(users[-1].created_at, users[-1].id) if has_more else None,
    )


async def change_role(
    uow: UnitOfWork, *, actor_id: str, user_id: str, role: UserRole, client: ClientInfo
) -> User:
    """Give `user_id` the role `role`; a real change bumps `revision`, emits UserUpdated and is
    audited. The actor's role is read from the database, not from their (older) token."""
    if actor_id == user_id:
        raise ForbiddenError("You may not change your own role.")
    async with uow:
        db = uow.session
        actor = await db.get(User, actor_id)
        user = await db.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFoundError("No such user.")
        old_role = user.role
        touches_privilege = old_role in PRIVILEGED_ROLES or role in PRIVILEGED_ROLES
        if actor is None or (touches_privilege and actor.role != UserRole.SUPER_ADMIN):
            raise ForbiddenError("Only a super admin may grant or revoke admin roles.")
        if old_role == role:
            return user
        user.role = role
        user.revision += 1
        user.updated_at = datetime.now(UTC)
        uow.emit(user_updated(user), subject=user.id)
        record_audit(
            db,
            AuditAction.ROLE_CHANGED,
            user_id=actor_id,
            ip_address=client.ip_address,
            target_id=user.id,
            metadata={"old_role": old_role, "new_role": role},
        )
        await uow.commit()
    return user
