"""Registration and login with email and password; both open a session and grant tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from identity.credentials.kit import CredentialKit
from identity.domain import referrals
from identity.domain.audit import AuditAction, record_audit
from identity.domain.email_verification import verification_mail
from identity.domain.errors import EmailTakenError, InvalidCredentialsError
from identity.domain.login_throttle import ATTEMPTED_EMAIL_KEY, LoginThrottle
from identity.domain.mail_policy import MailPolicy
from identity.domain.sessions import ClientInfo, TokenGrant, open_session
from identity.mail.messages import TokenMail
from identity.models import User, UserRole
from lib_contracts.identity import UserRegistered
from lib_database import UnitOfWork


def normalise_email(email: str) -> str:
    return email.strip().lower()


def new_referral_code() -> str:
    """72 random bits, URL-safe: unguessable, so codes cannot be enumerated."""
    return secrets.token_urlsafe(9)


def announce_registered(uow: UnitOfWork, user: User) -> None:
    """UserRegistered for a user just added (and flushed), however they signed up."""
    uow.emit(
        UserRegistered(
            user_id=user.id,
            email=user.email,
            name=user.name,
            phone=user.phone,
            company=user.company,
            role="USER",
            referred_by_id=user.referred_by_id,
            email_verified_at=user.email_verified,
            registered_at=user.created_at,
        ),
        subject=user.id,
    )


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    name: str | None = None
    referral_code: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    grant: TokenGrant
    # Sent once the registration committed (see identity.mail.mailer).
    verification_mail: TokenMail


async def register(
    uow: UnitOfWork,
    kit: CredentialKit,
    policy: MailPolicy,
    registration: Registration,
    client: ClientInfo,
) -> Registered:
    """A new account, signed in, with a verification token to mail. A referral code that is
    nobody's is a 422 (the sign-up form shows it), so a typo does not silently lose a reward."""
    email = normalise_email(registration.email)
    password_hash = await kit.passwords.hash(registration.password)  # before the transaction
    async with uow:
        db = uow.session
        if (await db.execute(select(User.id).where(User.email == email))).first() is not None:
            raise EmailTakenError()
        referrer_id = None
        if registration.referral_code:
            referrer_id = await referrals.referrer_of(db, registration.referral_code)
        user = User(
            email=email,
            name=registration.name,
            role=UserRole.USER,
            password_hash=password_hash,
            referral_code=new_referral_code(),
            referred_by_id=referrer_id,
        )
        db.add(user)
        try:
            await db.flush()  # a concurrent registration of the same email loses here
        except IntegrityError:
            raise EmailTakenError() from None
        if referrer_id is not None:
            referrals.open_referral(
                db, referrer_id=referrer_id, referee_id=user.id, ip_address=client.ip_address
            )
        mail = verification_mail(db, kit.token_digester, policy, email)
        grant = open_session(db, kit, user, client)
        announce_registered(uow, user)
        await uow.commit()
    return Registered(grant=grant, verification_mail=mail)


async def login(
    uow: UnitOfWork,
    kit: CredentialKit,
    throttle: LoginThrottle,
    email: str,
    password: str,
    client: ClientInfo,
) -> TokenGrant:
    """Tokens for a matching email and password. Unknown email and wrong password fail alike,
    in about the same time (a dummy hash is verified when there is no account). After too many
    recent failures for the email or the IP, refused before the password is even checked."""
    email = normalise_email(email)
    async with uow:
        await throttle.check(uow.session, email=email, ip_address=client.ip_address)
        found = (await uow.session.execute(select(User).where(User.email == email))).scalar()
    user_id = found.id if found is not None else None
    password_hash = found.password_hash if found is not None else None
    # Hashing takes tens of milliseconds: no transaction (nor pooled connection) waits on it.
    matches = await kit.passwords.verify(password_hash, password)
    new_hash = None
    if matches and password_hash is not None and kit.passwords.needs_rehash(password_hash):
        new_hash = await kit.passwords.hash(password)
    async with uow:
        db = uow.session
        # Read again: the account may have been deleted while the password was checked.
        user = await db.get(User, user_id) if user_id is not None else None
        if user is None or not matches:
            record_audit(
                db,
                AuditAction.LOGIN_FAILED,
                user_id=user.id if user is not None else None,
                ip_address=client.ip_address,
                metadata={ATTEMPTED_EMAIL_KEY: email},
            )
            await uow.commit()
            raise InvalidCredentialsError()
        if new_hash is not None:
            user.password_hash = new_hash
            user.updated_at = datetime.now(UTC)
        grant = open_session(db, kit, user, client)
        record_audit(db, AuditAction.LOGIN, user_id=user.id, ip_address=client.ip_address)
        await uow.commit()
    return grant
