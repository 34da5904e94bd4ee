"""Login sessions: opened at login, rotated on refresh, listed and revoked by their owner.

A session's refresh token is opaque and stored only as its keyed hash. Every refresh replaces
it; the old hash goes to session_token_history, and presenting one of those again means the
token was stolen (or replayed): the whole session is revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.access_tokens import IssuedAccessToken
from identity.credentials.kit import CredentialKit
from identity.credentials.opaque_tokens import new_opaque_token
from identity.domain.audit import AuditAction, record_audit
from identity.domain.errors import InvalidRefreshTokenError
from identity.models import Session, SessionTokenHistory, User
from lib_database import UnitOfWork
from lib_database.keyset import decode_cursor, encode_cursor
from lib_web.problems import NotFoundError

USER_AGENT_MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a request came from, recorded on sessions and audit rows."""

    ip_address: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a client receives at login, registration or refresh (shown this once)."""

    user: User
    session_id: str
    access_token: IssuedAccessToken
    refresh_token: str


def _now() -> datetime:
    return datetime.now(UTC)


def open_session(
    db: AsyncSession, kit: CredentialKit, user: User, client: ClientInfo
) -> TokenGrant:
    refresh_token = new_opaque_token()
    session = Session(
        session_token=kit.token_digester.digest(refresh_token),
        user_id=user.id,
        expires=_now() + timedelta(seconds=kit.refresh_token_ttl_s),
        ip_address=client.ip_address,
        user_agent=(client.user_agent or "")[:USER_AGENT_MAX_LENGTH] or None,
    )
    db.add(session)
    return _grant(kit, user, session, refresh_token)


def _grant(kit: CredentialKit, user: User, session: Session, refresh_token: str) -> TokenGrant:
    access = kit.access_tokens.issue(
        user_id=user.id, email=user.email, role=user.role, session_id=session.id
    )
    return TokenGrant(
        user=user, session_id=session.id, access_token=access, refresh_token=refresh_token
    )


async def refresh_session(
    uow: UnitOfWork, kit: CredentialKit, refresh_token: str, client: ClientInfo
) -> TokenGrant:
    """A new token pair for a valid refresh token; the presented token stops working."""
    digest = kit.token_digester.digest(refresh_token)
    async with uow:
        db = uow.session
        # The row lock makes concurrent refreshes with one token take turns: the second one
        # then finds the token rotated away and is treated as reuse.
        session = (
            await db.execute(
                select(Session).where(Session.session_token == digest).with_for_update()
            )
        ).scalar_one_or_none()
        if session is None:
            await _revoke_on_reuse(uow, digest, client)
            raise InvalidRefreshTokenError()
        now = _now()
        if session.revoked_at is not None or session.expires <= now:
            raise InvalidRefreshTokenError()
        user = await db.get(User, session.user_id)
        if user is None:
            raise InvalidRefreshTokenError()
        db.add(SessionTokenHistory(token_hash=digest, session_id=session.id))
        new_refresh_token = new_opaque_token()
        session.session_token = kit.token_digester.digest(new_refresh_token)
        session.last_used_at = now
        session.expires = now + timedelta(seconds=kit.refresh_token_ttl_s)
        if client.ip_address:
            session.ip_address = client.ip_address
        grant = _grant(kit, user, session, new_refresh_token)
        await uow.commit()
    return grant


async def _revoke_on_reuse(uow: UnitOfWork, digest: str, client: ClientInfo) -> None:
    """If `digest` is a rotated-away token, revoke its session (committed, then the caller
    answers 401)."""
    db = uow.session
    rotated = await db.get(SessionTokenHistory, digest)
    if rotated is None:
        return
    session = await db.get(Session, rotated.session_id, with_for_update=True)
    if session is None:
        return
    if session.revoked_at is None:
        session.revoked_at = _now()
        record_audit(
            db,
            AuditAction.SESSION_REVOKED,
            user_id=session.user_id,
            ip_address=client.ip_address,
            target_id=session.id,
            metadata={"reason": "refresh_token_reuse"},
        )
    await uow.commit()


async def logout(
    uow: UnitOfWork, kit: CredentialKit, refresh_token: str, client: ClientInfo
) -> None:
    """Revoke the session of a refresh token (current or rotated away); unknown ones are
    ignored, so logging out twice is harmless."""
    digest = kit.token_digester.digest(refresh_token)
    async with uow:
        db = uow.session
        session = (
            await db.execute(select(Session).where(Session.session_token == digest))
        ).scalar_one_or_none()
        if session is None:
            rotated = await db.get(SessionTokenHistory, digest)
            session = await db.get(Session, rotated.session_id) if rotated else None
        if session is None or session.revoked_at is not None:
            return
        session.revoked_at = _now()
        record_audit(
            db,
            AuditAction.LOGOUT,
            user_id=session.user_id,
            ip_address=client.ip_address,
            target_id=session.id,
        )
        await uow.commit()


async def logout_everywhere(uow: UnitOfWork, user_id: str, client: ClientInfo) -> None:
    async with uow:
        db = uow.session
        result = await db.execute(
            update(Session)
            .where(col(Session.user_id) == user_id, col(Session.revoked_at).is_(None))
            .values(revoked_at=_now())
            .returning(col(Session.id))
        )
        revoked = list(result.scalars())
        record_audit(
            db,
            AuditAction.LOGOUT,
            user_id=user_id,
            ip_address=client.ip_address,
            metadata={"scope": "all", "sessions": len(revoked)},
        )
        await uow.commit()


async def revoke_user_sessions(
    db: AsyncSession, user_id: str, *, keep_session_id: str | None = None
) -> int:
    """Revoke every active session of the user (but `keep_session_id`); how many were."""
    query = update(Session).where(
        col(Session.user_id) == user_id, col(Session.revoked_at).is_(None)
    )
    if keep_session_id is not None:
        query = query.where(col(Session.id) != keep_session_id)
    result = await db.execute(query.values(revoked_at=_now()).returning(col(Session.id)))
    return len(list(result.scalars()))


async def revoke_my_session(
    uow: UnitOfWork, user_id: str, session_id: str, client: ClientInfo
) -> None:
    """Revoke one of the caller's sessions; someone else's (or an unknown one) is 404."""
    async with uow:
        db = uow.session
        session = await db.get(Session, session_id, with_for_update=True)
        if session is None or session.user_id != user_id:
            raise NotFoundError("No such session.")
        if session.revoked_at is None:
            session.revoked_at = _now()
            record_audit(
                db,
                AuditAction.SESSION_REVOKED,
                user_id=user_id,
                ip_address=client.ip_address,
                target_id=session.id,
            )
            await uow.commit()


def _active_session(*, user_id: str, session_id: str) -> tuple[ColumnElement[bool], ...]:
    return (
        col(Session.id) == session_id,
        col(Session.user_id) == user_id,
        col(Session.revoked_at).is_(None),
        col(Session.expires) > _now(),
    )


async def is_session_active(db: AsyncSession, *, user_id: str, session_id: str) -> bool:
    """The session exists, is the user's and is neither revoked nor expired."""
    found = await db.execute(
        select(col(Session.id)).where(*_active_session(user_id=user_id, session_id=session_id))
    )
    return found.first() is not None


async def user_of_active_session(db: AsyncSession, *, user_id: str, session_id: str) -> User | None:
    """The user, if that session of theirs is active: the check and the read in one statement."""
    found = await db.execute(
        select(User)
        .join(Session, col(Session.user_id) == col(User.id))
        .where(*_active_session(user_id=user_id, session_id=session_id))
    )
    return found.scalars().first()


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: list[Session]
    next_cursor: str | None


async def list_my_sessions(
    uow: UnitOfWork, user_id: str, *, limit: int, cursor: str | None, offset: int | None
) -> SessionPage:
    """The caller's active sessions, newest first: keyset paging by `cursor`, or `offset`."""
    query = (
        select(Session)
        .where(
            Session.user_id == user_id,
            col(Session.revoked_at).is_(None),
            col(Session.expires) > _now(),
        )
        .order_by(col(Session.created_at).desc(), col(Session.id).desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        created_at, session_id = decode_cursor(cursor)
        query = query.where(
            tuple_(col(Session.created_at), col(Session.id)) < tuple_(created_at, session_id)
        )
    elif offset:
        query = query.offset(offset)
    async with uow:
        sessions = list((await uow.session.execute(query)).scalars())
    has_more = len(sessions) > limit
    sessions = sessions[:limit]
    return SessionPage(
        sessions=sessions,
        next_cursor=encode_cursor(sessions[-1].created_at, sessions[-1].id) if has_more else None,
    )


async def create_session(
    uow: UnitOfWork, kit: CredentialKit, user_id: str, client: ClientInfo
) -> TokenGrant:
    """A new session for a user already authenticated some other way (Auth.js' createSession)."""
    async with uow:
        user = await uow.session.get(User, user_id)
        if user is None:
            raise NotFoundError("No such user.")
        grant = open_session(uow.session, kit, user, client)
        await uow.commit()
    return grant


async def get_session_and_user(
    uow: UnitOfWork, kit: CredentialKit, refresh_token: str
) -> tuple[Session, User] | None:
    """The active session of a refresh token and its user (Auth.js' getSessionAndUser);
    None for an unknown, rotated-away, revoked or expired token."""
    digest = kit.token_digester.digest(refresh_token)
    async with uow:
        found = (
            await uow.session.execute(
                select(Session, User)
                .join(User, col(User.id) == col(Session.user_id))
                .where(
                    Session.session_token == digest,
                    col(Session.revoked_at).is_(None),
                    col(Session.expires) > _now(),
                )
            )
        ).first()
    return (found[0], found[1]) if found is not None else None
