"""The Auth.js adapter test suite's cases, ported to identity's domain layer.

Auth.js checks that an adapter can create and find users (by id, email and provider
account), update them, link and unlink accounts, create, read, update and delete sessions,
and that deleting a user takes their accounts and sessions with it. Each case below calls the
use case that does that job here. (The single-use verification token case belongs with email
verification.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from identity.credentials.kit import CredentialKit
from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.domain import provider_accounts, sessions, users
from identity.domain.provider_accounts import NewUser, ProviderIdentity
from identity.domain.provider_tokens import StoredTokens, read_tokens
from identity.domain.sessions import ClientInfo
from lib_database import UnitOfWork
from lib_web.problems import NotFoundError

from .helpers import unique_email

CLIENT = ClientInfo(ip_address="198.51.100.7", user_agent="authjs-adapter-tests")


@pytest.fixture
def uow_factory(identity_app: FastAPI) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(identity_app.state.database, source="identity", schema="identity")


@pytest.fixture
def kit(identity_app: FastAPI) -> CredentialKit:
    found: CredentialKit = identity_app.state.credential_kit
    return found


@pytest.fixture
def cipher(identity_app: FastAPI) -> ProviderTokenCipher:
    found: ProviderTokenCipher = identity_app.state.provider_token_cipher
    return found


def _provider_identity(subject: str | None = None) -> ProviderIdentity:
    return ProviderIdentity(
        provider="github",
        trusted=False,
        subject=subject or f"gh-{uuid.uuid4().hex}",
        email=None,
        email_verified=False,
        name=None,
        image=None,
        tokens=StoredTokens(
            access_token=f"gho_{uuid.uuid4().hex}",
            refresh_token=f"ghr_{uuid.uuid4().hex}",
            id_token=None,
        ),
        expires_at=1_900_000_000,
        token_type="bearer",
        scope="read:user user:email",
    )


async def _count(app: FastAPI, sql: str, **params: Any) -> int:
    async with app.state.database.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def _new_user(uow_factory: Callable[[], UnitOfWork]) -> Any:
    return await provider_accounts.create_user(
        uow_factory(),
        NewUser(
            email=unique_email("authjs"),
            email_verified=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            name="Ada",
            image="https://img.example.com/ada.png",
        ),
    )


async def test_create_user(uow_factory: Callable[[], UnitOfWork]) -> None:
    user = await _new_user(uow_factory)
    assert user.id
    assert user.email == user.email.lower()
    assert user.email_verified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (user.name, user.image, user.password_hash) == (
        "Ada",
        "https://img.example.com/ada.png",
        None,
    )


async def test_get_user(uow_factory: Callable[[], UnitOfWork]) -> None:
    user = await _new_user(uow_factory)
    found = await users.get_user(uow_factory(), user.id)
    assert (found.id, found.email, found.name) == (user.id, user.email, user.name)
    with pytest.raises(NotFoundError):
        await users.get_user(uow_factory(), str(uuid.uuid4()))


async def test_get_user_by_email(uow_factory: Callable[[], UnitOfWork]) -> None:
    user = await _new_user(uow_factory)
    found = await provider_accounts.get_user_by_email(uow_factory(), user.email.upper())
    assert found is not None and found.id == user.id
    assert await provider_accounts.get_user_by_email(uow_factory(), unique_email()) is None


async def test_get_user_by_account(
    uow_factory: Callable[[], UnitOfWork], cipher: ProviderTokenCipher
) -> None:
    user = await _new_user(uow_factory)
    who = _provider_identity()
    await provider_accounts.link_account(uow_factory(), cipher, user.id, who, CLIENT)
    found = await provider_accounts.get_user_by_account(uow_factory(), "github", who.subject)
    assert found is not None and found.id == user.id
    assert await provider_accounts.get_user_by_account(uow_factory(), "github", "nobody") is None


async def test_update_user(uow_factory: Callable[[], UnitOfWork]) -> None:
    user = await _new_user(uow_factory)
    updated = await users.update_profile(
        uow_factory(), user.id, {"name": "Ada Lovelace", "image": None}
    )
    assert (updated.name, updated.image) == ("Ada Lovelace", None)
    again = await users.get_user(uow_factory(), user.id)
    assert (again.name, again.image, again.email) == ("Ada Lovelace", None, user.email)


async def test_link_account(
    uow_factory: Callable[[], UnitOfWork], cipher: ProviderTokenCipher
) -> None:
    user = await _new_user(uow_factory)
    who = _provider_identity()
    await provider_accounts.link_account(uow_factory(), cipher, user.id, who, CLIENT)
    account = await provider_accounts.get_account(uow_factory(), "github", who.subject)
    assert account is not None
    assert (account.user_id, account.type, account.scope, account.expires_at) == (
        user.id,
        "oidc",
        "read:user user:email",
        1_900_000_000,
    )
    assert account.access_token is not None
    assert who.tokens.access_token.encode() not in account.access_token  # type: ignore[union-attr]
    assert read_tokens(account, cipher) == who.tokens


async def test_unlink_account(
    uow_factory: Callable[[], UnitOfWork], cipher: ProviderTokenCipher
) -> None:
    user = await _new_user(uow_factory)
    first, second = _provider_identity(), _provider_identity()
    await provider_accounts.link_account(uow_factory(), cipher, user.id, first, CLIENT)
    await provider_accounts.link_account(uow_factory(), cipher, user.id, second, CLIENT)
    account = await provider_accounts.get_account(uow_factory(), "github", first.subject)
    assert account is not None
    await provider_accounts.unlink_my_account(uow_factory(), user.id, account.id, CLIENT)
    assert await provider_accounts.get_account(uow_factory(), "github", first.subject) is None
    assert (
        await provider_accounts.get_user_by_account(uow_factory(), "github", first.subject) is None
    )


async def test_create_session(uow_factory: Callable[[], UnitOfWork], kit: CredentialKit) -> None:
    user = await _new_user(uow_factory)
    grant = await sessions.create_session(uow_factory(), kit, user.id, CLIENT)
    assert grant.refresh_token and grant.session_id
    found = await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token)
    assert found is not None
    session, session_user = found
    assert (session.id, session.user_id, session_user.id) == (grant.session_id, user.id, user.id)
    assert session.expires > datetime.now(UTC)
    # Only the token's keyed hash is stored.
    assert session.session_token != grant.refresh_token


async def test_get_session_and_user(
    uow_factory: Callable[[], UnitOfWork], kit: CredentialKit
) -> None:
    user = await _new_user(uow_factory)
    grant = await sessions.create_session(uow_factory(), kit, user.id, CLIENT)
    found = await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token)
    assert found is not None and found[1].email == user.email
    assert await sessions.get_session_and_user(uow_factory(), kit, "not-a-token") is None


async def test_update_session(uow_factory: Callable[[], UnitOfWork], kit: CredentialKit) -> None:
    user = await _new_user(uow_factory)
    grant = await sessions.create_session(uow_factory(), kit, user.id, CLIENT)
    before = await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token)
    assert before is not None
    # Here a session is updated by rotating its token, which also extends its expiry.
    renewed = await sessions.refresh_session(uow_factory(), kit, grant.refresh_token, CLIENT)
    assert renewed.session_id == grant.session_id
    after = await sessions.get_session_and_user(uow_factory(), kit, renewed.refresh_token)
    assert after is not None
    assert after[0].expires >= before[0].expires
    assert after[0].last_used_at is not None
    assert await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token) is None


async def test_delete_session(uow_factory: Callable[[], UnitOfWork], kit: CredentialKit) -> None:
    user = await _new_user(uow_factory)
    grant = await sessions.create_session(uow_factory(), kit, user.id, CLIENT)
    await sessions.logout(uow_factory(), kit, grant.refresh_token, CLIENT)
    assert await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token) is None


async def test_deleting_a_user_deletes_their_accounts_and_sessions(
    uow_factory: Callable[[], UnitOfWork],
    kit: CredentialKit,
    cipher: ProviderTokenCipher,
    identity_app: FastAPI,
) -> None:
    user = await _new_user(uow_factory)
    who = _provider_identity()
    await provider_accounts.link_account(uow_factory(), cipher, user.id, who, CLIENT)
    grant = await sessions.create_session(uow_factory(), kit, user.id, CLIENT)
    assert await _count(identity_app, "SELECT count(*) FROM accounts WHERE user_id = :u", u=user.id)

    await users.delete_user(uow_factory(), user.id, CLIENT)

    with pytest.raises(NotFoundError):
        await users.get_user(uow_factory(), user.id)
    assert await provider_accounts.get_user_by_email(uow_factory(), user.email) is None
    assert await provider_accounts.get_user_by_account(uow_factory(), "github", who.subject) is None
    assert await sessions.get_session_and_user(uow_factory(), kit, grant.refresh_token) is None
    for table in ("accounts", "sessions"):
        left = await _count(
            identity_app, f"SELECT count(*) FROM {table} WHERE user_id = :u", u=user.id
        )
        assert left == 0, table
