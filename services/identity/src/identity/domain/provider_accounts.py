"""Provider (OAuth/OIDC) accounts: sign in with one, link it, list and unlink them.

Linking a provider account to an existing user by a matching email happens only when the
provider is trusted, says the email is verified, and the existing user has verified it too:
otherwise anyone who can claim that email at some provider would take over the account, or
someone who registered the address without owning it would share the real owner's account.
For the same reason only a trusted provider's word makes a new user's email verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from identity.credentials.kit import CredentialKit
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain.accounts import announce_registered, new_referral_code, normalise_email
from identity.domain.audit import AuditAction, record_audit
from identity.domain.provider_tokens import StoredTokens, write_tokens
from identity.domain.sessions import ClientInfo, TokenGrant, is_session_active, open_session
from identity.models import Account, User, UserRole
from lib_database import UnitOfWork
from lib_database.keyset import newest_first, page_of
from lib_web.problems import ConflictError, NotFoundError, ProblemError

ACCOUNT_TYPE_OIDC = "oidc"
PROFILE_NAME_MAX = 200


class ProviderAccountNotLinkedError(ConflictError):
    """A user with this email exists, and this provider may not link to it on its own."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"An account with this email already exists. Sign in to it, then link {provider} "
            f"from your account (POST /api/v1/users/me/accounts/{provider}/link) to sign in "
            "with it from then on.",
            title="Account exists",
        )


class ProviderAccountTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("This provider account is already linked to another user.")


class LinkSessionEndedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            401, "Unauthorized", "The session that started this link has ended; sign in again."
        )


class LastSignInMethodError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "This is your last way to sign in: set a password or link another provider first."
        )


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who signed in at a provider, from its verified ID token, and the tokens it handed us."""

    provider: str
    trusted: bool
    subject: str  # providerAccountId
    email: str | None
    email_verified: bool
    name: str | None
    image: str | None
    tokens: StoredTokens
    expires_at: int | None = None
    token_type: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str | None
    email_verified: datetime | None = None
    name: str | None = None
    image: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def _add_user(uow: UnitOfWork, new: NewUser) -> User:
    """Insert a user without a password and announce it (as password registration does)."""
    user = User(
        email=normalise_email(new.email) if new.email else None,
        email_verified=new.email_verified,
        name=new.name,
        image=new.image,
        role=UserRole.USER,
        referral_code=new_referral_code(),
    )
    uow.session.add(user)
    await uow.session.flush()
    announce_registered(uow, user)
    return user


async def create_user(uow: UnitOfWork, new: NewUser) -> User:
    """A user who signs in only through providers (Auth.js' createUser)."""
    async with uow:
        try:
            user = await _add_user(uow, new)
        except IntegrityError:
            raise ConflictError("An account with this email already exists.") from None
        await uow.commit()
    return user


def _new_account(user_id: str, who: ProviderIdentity, cipher: ProviderTokenCipher) -> Account:
    account = Account(
        user_id=user_id,
        type=ACCOUNT_TYPE_OIDC,
        provider=who.provider,
        provider_account_id=who.subject,
    )
    _refresh_account(account, who, cipher)
    return account


def _refresh_account(account: Account, who: ProviderIdentity, cipher: ProviderTokenCipher) -> None:
    write_tokens(account, cipher, who.tokens)
    account.expires_at = who.expires_at
    account.token_type = who.token_type
    account.scope = who.scope


async def _find_account(db: AsyncSession, provider: str, subject: str) -> Account | None:
    found = await db.execute(
        select(Account)
        .where(Account.provider == provider, Account.provider_account_id == subject)
        .with_for_update()
    )
    return found.scalar_one_or_none()


async def sign_in_with_provider(
    uow: UnitOfWork,
    kit: CredentialKit,
    cipher: ProviderTokenCipher,
    who: ProviderIdentity,
    client: ClientInfo,
) -> TokenGrant:
    """Open a session for the person a provider vouched for: the user already linked to that
    provider account; else the user with that email, linked now if the provider is trusted
    and the email verified on both sides; else a new user."""
    audit_ip = client.ip_address
    async with uow:
        db = uow.session
        account = await _find_account(db, who.provider, who.subject)
        if account is not None:
            user = await db.get(User, account.user_id)
            if user is None:  # deleted meanwhile; the cascade takes the account too
                raise NotFoundError("No such user.")
            _refresh_account(account, who, cipher)
        else:
            email = normalise_email(who.email) if who.email else None
            user = None
            if email is not None:
                user = (
                    await db.execute(select(User).where(User.email == email).with_for_update())
                ).scalar_one_or_none()
            if user is not None:
                if not (who.trusted and who.email_verified and user.email_verified is not None):
                    # Nothing has been written yet: the audit row is all this commits.
                    record_audit(
                        db,
                        AuditAction.ACCOUNT_LINK_REFUSED,
                        user_id=user.id,
                        ip_address=audit_ip,
                        metadata={"provider": who.provider},
                    )
                    await uow.commit()
                    raise ProviderAccountNotLinkedError(who.provider)
            else:
                try:
                    user = await _add_user(
                        uow,
                        NewUser(
                            email=email,
                            email_verified=(
                                _now() if email and who.trusted and who.email_verified else None
                            ),
                            # Held to what a user may set on their own profile.
                            name=who.name[:PROFILE_NAME_MAX] if who.name else None,
                            image=who.image if who.image and len(who.image) <= 2048 else None,
                        ),
                    )
                except IntegrityError:
                    # The same email or provider account was registered concurrently.
                    raise ConflictError("This account was just created; sign in again.") from None
            account = _new_account(user.id, who, cipher)
            db.add(account)
            record_audit(
                db,
                AuditAction.ACCOUNT_LINKED,
                user_id=user.id,
                ip_address=audit_ip,
                target_id=account.id,
                metadata={"provider": who.provider},
            )
        grant = open_session(db, kit, user, client)
        record_audit(
            db,
            AuditAction.LOGIN,
            user_id=user.id,
            ip_address=audit_ip,
            metadata={"method": "oauth", "provider": who.provider},
        )
        try:
            await uow.commit()
        except IntegrityError:
            raise ConflictError("This account was just linked; sign in again.") from None
    return grant


async def link_account(
    uow: UnitOfWork,
    cipher: ProviderTokenCipher,
    user_id: str,
    who: ProviderIdentity,
    client: ClientInfo,
    *,
    session_id: str | None = None,
) -> Account:
    """Link a provider account to a user (Auth.js' linkAccount). With `session_id`, the link
    was asked for from that session, which must still be active."""
    async with uow:
        db = uow.session
        if await db.get(User, user_id) is None:
            raise NotFoundError("No such user.")
        if session_id is not None and not await is_session_active(
            db, user_id=user_id, session_id=session_id
        ):
            raise LinkSessionEndedError()
        account = await _find_account(db, who.provider, who.subject)
        if account is not None:
            if account.user_id != user_id:
                raise ProviderAccountTakenError()
            _refresh_account(account, who, cipher)
        else:
            account = _new_account(user_id, who, cipher)
            db.add(account)
            record_audit(
                db,
                AuditAction.ACCOUNT_LINKED,
                user_id=user_id,
                ip_address=client.ip_address,
                target_id=account.id,
                metadata={"provider": who.provider},
            )
        try:
            await uow.commit()
        except IntegrityError:
            raise ProviderAccountTakenError() from None
    return account


async def get_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    async with uow:
        found = await uow.session.execute(select(User).where(User.email == normalise_email(email)))
        return found.scalar_one_or_none()


async def get_user_by_account(
    uow: UnitOfWork, provider: str, provider_account_id: str
) -> User | None:
    async with uow:
        found = await uow.session.execute(
            select(User)
            .join(Account, col(Account.user_id) == col(User.id))
            .where(Account.provider == provider, Account.provider_account_id == provider_account_id)
        )
        return found.scalar_one_or_none()


async def get_account(uow: UnitOfWork, provider: str, provider_account_id: str) -> Account | None:
    async with uow:
        found = await uow.session.execute(
            select(Account).where(
                Account.provider == provider, Account.provider_account_id == provider_account_id
            )
        )
        return found.scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class AccountPage:
    accounts: list[Account]
    next_cursor: str | None


async def list_my_accounts(
    uow: UnitOfWork, user_id: str, *, limit: int, cursor: str | None
) -> AccountPage:
    """The caller's linked provider accounts, newest first, in keyset pages."""
    query = newest_first(
        select(Account).where(Account.user_id == user_id),
        col(Account.created_at),
        col(Account.id),
        limit=limit,
        cursor=cursor,
    )
    async with uow:
        found = list((await uow.session.execute(query)).scalars())
    accounts, next_cursor = page_of(found, limit)
    return AccountPage(accounts=accounts, next_cursor=next_cursor)


async def unlink_my_account(
    uow: UnitOfWork, user_id: str, account_id: str, client: ClientInfo
) -> None:
    """Unlink one of the caller's provider accounts (Auth.js' unlinkAccount). Another user's
    (or an unknown) account is 404; the last way to sign in is refused."""
    async with uow:
        db = uow.session
        # The user row lock serialises two unlinks racing to remove the last two accounts.
        user = await db.get(User, user_id, with_for_update=True)
        account = await db.get(Account, account_id)
        if user is None or account is None or account.user_id != user_id:
            raise NotFoundError("No such linked account.")
        linked = (
            await db.execute(select(func.count()).where(col(Account.user_id) == user_id))
        ).scalar_one()
        if user.password_hash is None and linked <= 1:
            raise LastSignInMethodError()
        await db.delete(account)
        record_audit(
            db,
            AuditAction.ACCOUNT_UNLINKED,
            user_id=user_id,
            ip_address=client.ip_address,
            target_id=account_id,
            metadata={"provider": account.provider},
        )
        await uow.commit()
