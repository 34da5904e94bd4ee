"""VerificationToken as the Auth.js adapter uses it: create, then use once (a second use, or
an expired token, returns nothing); concurrent uses of one token succeed once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from identity.config import IdentitySettings
from identity.credentials.opaque_tokens import TokenDigester
from identity.domain.verification_tokens import issue_token, peek_token, use_token
from identity.mail.sink import MailSink
from identity.models import VerificationPurpose
from lib_database import Database, UnitOfWork

from .helpers import VERIFY_SUBJECT, mailed_token, register, unique_email

PURPOSE = VerificationPurpose.EMAIL_VERIFICATION


@pytest.fixture
async def database(
    identity_settings: Callable[..., IdentitySettings],
) -> AsyncIterator[Database]:
    db = Database.from_settings(identity_settings())
    yield db
    await db.dispose()


async def _issue(db: Database, digester: TokenDigester, identifier: str, ttl_s: int) -> str:
    async with UnitOfWork(db, source="identity") as uow:
        issued = issue_token(
            uow.session, digester, identifier=identifier, purpose=PURPOSE, ttl_s=ttl_s
        )
        await uow.commit()
    return issued.token


async def _use(db: Database, digester: TokenDigester, token: str) -> str | None:
    async with UnitOfWork(db, source="identity") as uow:
        identifier = await use_token(uow.session, digester, token, PURPOSE)
        await uow.commit()
    return identifier


async def test_a_token_used_twice_returns_nothing(database: Database) -> None:
    digester = TokenDigester("test-pepper")
    identifier = f"{uuid.uuid4().hex[:8]}@example.com"
    token = await _issue(database, digester, identifier, ttl_s=600)
    assert await _use(database, digester, token) == identifier
    assert await _use(database, digester, token) is None
    # Another purpose's token does not match, nor does a token hashed under another pepper.
    other = await _issue(database, digester, identifier, ttl_s=600)
    async with UnitOfWork(database, source="identity") as uow:
        reset = VerificationPurpose.PASSWORD_RESET
        assert await peek_token(uow.session, digester, other, reset) is None
        assert await peek_token(uow.session, TokenDigester("other"), other, PURPOSE) is None
        assert await peek_token(uow.session, digester, other, PURPOSE) == identifier


async def test_an_expired_token_returns_nothing(database: Database) -> None:
    digester = TokenDigester("test-pepper")
    token = await _issue(database, digester, f"{uuid.uuid4().hex[:8]}@example.com", ttl_s=-1)
    assert await _use(database, digester, token) is None


async def test_concurrent_uses_of_one_token_succeed_once(
    client: httpx.AsyncClient, mail_sink: MailSink
) -> None:
    email = unique_email("race")
    await register(client, email)
    token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    answers = await asyncio.gather(
        *(client.post("/api/v1/auth/verify-email", json={"token": token}) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
