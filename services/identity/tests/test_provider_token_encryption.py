"""Provider tokens at rest: AES-GCM bound to their row and column, and a key rotation that
re-encrypts every row in resumable batches while every token stays readable."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from identity import jobs
from identity.credentials.provider_token_cipher import (
    ProviderTokenCipher,
    TokenDecryptionError,
    associated_data,
)
from identity.domain import provider_accounts
from identity.domain.provider_accounts import NewUser, ProviderIdentity
from identity.domain.provider_tokens import StoredTokens, read_tokens, rotate_token_keys
from identity.domain.sessions import ClientInfo
from identity.models import Account
from lib_database import UnitOfWork

from .helpers import unique_email

CLIENT = ClientInfo(ip_address=None, user_agent=None)


@pytest.fixture
def uow_factory(identity_app: FastAPI) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(identity_app.state.database, source="identity", schema="identity")


@pytest.fixture
def app_cipher(identity_app: FastAPI) -> ProviderTokenCipher:
    found: ProviderTokenCipher = identity_app.state.provider_token_cipher
    return found


def _ring(
    app_cipher: ProviderTokenCipher, keys: dict[str, bytes], active: str
) -> ProviderTokenCipher:
    """The app's (development) key plus `keys`: rows of other tests stay readable."""
    dev_key_id = app_cipher.active_key_id
    return ProviderTokenCipher({dev_key_id: app_cipher.key(dev_key_id), **keys}, active)


def _tokens() -> StoredTokens:
    return StoredTokens(
        access_token=f"at-{uuid.uuid4().hex}",
        refresh_token=f"rt-{uuid.uuid4().hex}",
        id_token=f"idt-{uuid.uuid4().hex}",
    )


async def _linked_account(
    uow_factory: Callable[[], UnitOfWork], cipher: ProviderTokenCipher, tokens: StoredTokens
) -> Account:
    user = await provider_accounts.create_user(uow_factory(), NewUser(email=unique_email("enc")))
    who = ProviderIdentity(
        provider="enc-test",
        trusted=False,
        subject=uuid.uuid4().hex,
        email=None,
        email_verified=False,
        name=None,
        image=None,
        tokens=tokens,
    )
    return await provider_accounts.link_account(uow_factory(), cipher, user.id, who, CLIENT)


async def _load(uow_factory: Callable[[], UnitOfWork], account_id: str) -> Account:
    uow = uow_factory()
    async with uow:
        account = await uow.session.get(Account, account_id)
    assert account is not None
    return account


def test_a_ciphertext_opens_only_with_its_associated_data_and_key() -> None:
    cipher = ProviderTokenCipher({"k1": os.urandom(32)}, "k1")
    aad = associated_data("accounts", "row-1", "access_token")
    blob = cipher.encrypt("secret-token", aad=aad)
    assert b"secret-token" not in blob
    assert cipher.decrypt(blob, key_id="k1", aad=aad) == "secret-token"
    # A fresh nonce each time: equal tokens do not give equal ciphertexts.
    assert cipher.encrypt("secret-token", aad=aad) != blob
    with pytest.raises(TokenDecryptionError):
        cipher.decrypt(blob, key_id="k1", aad=associated_data("accounts", "row-2", "access_token"))
    with pytest.raises(TokenDecryptionError):
        cipher.decrypt(blob, key_id="k2", aad=aad)
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TokenDecryptionError):
        cipher.decrypt(flipped, key_id="k1", aad=aad)


async def test_a_ciphertext_moved_to_another_row_or_column_does_not_decrypt(
    uow_factory: Callable[[], UnitOfWork], app_cipher: ProviderTokenCipher, identity_app: FastAPI
) -> None:
    victim = await _linked_account(uow_factory, app_cipher, _tokens())
    attacker_tokens = _tokens()
    attacker = await _linked_account(uow_factory, app_cipher, attacker_tokens)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE accounts SET access_token = (SELECT access_token FROM accounts "
                "WHERE id = :victim) WHERE id = :attacker"
            ),
            {"victim": victim.id, "attacker": attacker.id},
        )
        await conn.execute(
            text("UPDATE accounts SET id_token = refresh_token WHERE id = :victim"),
            {"victim": victim.id},
        )
    with pytest.raises(TokenDecryptionError):
        read_tokens(await _load(uow_factory, attacker.id), app_cipher)
    with pytest.raises(TokenDecryptionError):
        read_tokens(await _load(uow_factory, victim.id), app_cipher)


async def test_rotation_keeps_every_token_readable_and_resumes_after_a_crash(
    uow_factory: Callable[[], UnitOfWork], app_cipher: ProviderTokenCipher
) -> None:
    # Rows of other tests are under the app's key: rotating *to* it leaves them alone.
    dev_id = app_cipher.active_key_id
    old_key = os.urandom(32)
    before = _ring(app_cipher, {"old": old_key}, "old")
    during = _ring(app_cipher, {"old": old_key}, dev_id)
    originals = {}
    for _ in range(5):
        tokens = _tokens()
        account = await _linked_account(uow_factory, before, tokens)
        assert account.token_key_id == "old"
        originals[account.id] = tokens

    calls = 0

    def crashing_factory() -> UnitOfWork:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the process died here")
        return uow_factory()

    with pytest.raises(RuntimeError):
        await rotate_token_keys(crashing_factory, during, batch_size=2)
    # Half-way: some rows under the new key, some still under the old one; all readable.
    key_ids = set()
    for account_id, tokens in originals.items():
        account = await _load(uow_factory, account_id)
        key_ids.add(account.token_key_id)
        assert read_tokens(account, during) == tokens
    assert key_ids == {"old", dev_id}

    report = await rotate_token_keys(uow_factory, during, batch_size=2)
    assert report.rotated >= 1
    for account_id, tokens in originals.items():
        account = await _load(uow_factory, account_id)
        assert account.token_key_id == dev_id
        assert read_tokens(account, app_cipher) == tokens  # the old key can now be retired
    again = await rotate_token_keys(uow_factory, during)
    assert again.rotated == 0  # nothing left to do: running it again is harmless


async def test_two_rotations_at_once_share_the_rows(
    uow_factory: Callable[[], UnitOfWork], app_cipher: ProviderTokenCipher
) -> None:
    dev_id = app_cipher.active_key_id
    new_key = os.urandom(32)
    originals = {}
    for _ in range(4):
        tokens = _tokens()
        account = await _linked_account(uow_factory, app_cipher, tokens)
        originals[account.id] = tokens
    to_new = _ring(app_cipher, {"new": new_key}, "new")
    both = await asyncio.gather(
        rotate_token_keys(uow_factory, to_new, batch_size=1),
        rotate_token_keys(uow_factory, to_new, batch_size=1),
    )
    assert sum(r.rotated for r in both) >= len(originals)
    only_new = ProviderTokenCipher({"new": new_key}, "new")
    for account_id, tokens in originals.items():
        account = await _load(uow_factory, account_id)
        assert account.token_key_id == "new"
        assert read_tokens(account, only_new) == tokens
    # Back under the development key, as the other tests expect.
    await rotate_token_keys(uow_factory, _ring(app_cipher, {"new": new_key}, dev_id))
    for account_id in originals:
        assert (await _load(uow_factory, account_id)).token_key_id == dev_id


async def test_rotation_skips_a_row_it_cannot_read_and_rotates_the_rest(
    uow_factory: Callable[[], UnitOfWork], app_cipher: ProviderTokenCipher, identity_app: FastAPI
) -> None:
    old_key = os.urandom(32)
    before = _ring(app_cipher, {"old": old_key}, "old")
    broken = await _linked_account(uow_factory, before, _tokens())
    tokens = _tokens()
    fine = await _linked_account(uow_factory, before, tokens)
    async with identity_app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE accounts SET access_token = id_token WHERE id = :id"), {"id": broken.id}
        )
    report = await rotate_token_keys(
        uow_factory, _ring(app_cipher, {"old": old_key}, app_cipher.active_key_id)
    )
    assert report.unreadable >= 1
    assert read_tokens(await _load(uow_factory, fine.id), app_cipher) == tokens
    assert (await _load(uow_factory, broken.id)).token_key_id == "old"


async def test_the_worker_job_rotates_to_the_configured_active_key(
    uow_factory: Callable[[], UnitOfWork],
    app_cipher: ProviderTokenCipher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = _tokens()
    account = await _linked_account(uow_factory, app_cipher, tokens)
    new_key = os.urandom(32)
    dev_id = app_cipher.active_key_id
    keys = {dev_id: app_cipher.key(dev_id), "job-new": new_key}
    monkeypatch.setenv(
        "IDENTITY_PROVIDER_TOKEN_KEYS",
        json.dumps({k: base64.b64encode(v).decode() for k, v in keys.items()}),
    )
    monkeypatch.setenv("IDENTITY_PROVIDER_TOKEN_ACTIVE_KEY_ID", "job-new")
    jobs._provider_token_cipher.cache_clear()
    try:
        assert "rotate-token-keys" in [job.name for job in jobs.JOBS]
        assert await jobs.rotate_provider_token_keys(uow_factory) >= 1
    finally:
        jobs._provider_token_cipher.cache_clear()
    rotated = await _load(uow_factory, account.id)
    assert rotated.token_key_id == "job-new"
    assert read_tokens(rotated, ProviderTokenCipher({"job-new": new_key}, "job-new")) == tokens
    # Back under the development key, as the other tests expect.
    await rotate_token_keys(uow_factory, ProviderTokenCipher(keys, dev_id))
    assert read_tokens(await _load(uow_factory, account.id), app_cipher) == tokens
