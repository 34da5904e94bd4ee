"""Provider tokens on Account rows: written encrypted, read back, re-encrypted on key rotation.

All three token columns of a row are encrypted under one key, whose id is stored in the row
(`token_key_id`) and changed in the same UPDATE as the ciphertexts, so a row is readable with
the configured keys at every moment of a rotation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlmodel import col, select

from identity.credentials.provider_token_cipher import (
    ProviderTokenCipher,
    TokenDecryptionError,
    associated_data,
)
from identity.models import Account
from lib_database import UnitOfWork

log = structlog.get_logger(__name__)

TOKEN_COLUMNS = ("access_token", "refresh_token", "id_token")
ROTATION_BATCH_SIZE = 200


@dataclass(frozen=True, slots=True)
class StoredTokens:
    access_token: str | None
    refresh_token: str | None
    id_token: str | None


def _aad(account: Account, column: str) -> bytes:
    return associated_data("accounts", account.id, column)


def write_tokens(account: Account, cipher: ProviderTokenCipher, tokens: StoredTokens) -> None:
    """Encrypt `tokens` into `account` under the active key (its id must already be set)."""
    for column in TOKEN_COLUMNS:
        plaintext: str | None = getattr(tokens, column)
        blob = cipher.encrypt(plaintext, aad=_aad(account, column)) if plaintext else None
        setattr(account, column, blob)
    account.token_key_id = cipher.active_key_id


def read_tokens(account: Account, cipher: ProviderTokenCipher) -> StoredTokens:
    values: dict[str, str | None] = {}
    for column in TOKEN_COLUMNS:
        blob: bytes | None = getattr(account, column)
        if blob is None or account.token_key_id is None:
            values[column] = None
        else:
            values[column] = cipher.decrypt(
                blob, key_id=account.token_key_id, aad=_aad(account, column)
            )
    return StoredTokens(**values)


@dataclass(frozen=True, slots=True)
class RotationReport:
    rotated: int  # rows re-encrypted under the active key
    unreadable: int  # rows left as they were: their ciphertext or key is not valid here


async def rotate_token_keys(
    uow_factory: Callable[[], UnitOfWork],
    cipher: ProviderTokenCipher,
    *,
    batch_size: int = ROTATION_BATCH_SIZE,
) -> RotationReport:
    """Re-encrypt every account's tokens under the active key, one committed batch at a time.

    Safe to stop and run again (it resumes with the rows still under an old key), to run twice
    at once (rows being rotated are skipped by the other run), and while sign-ins go on. A row
    that does not decrypt (its key is gone, or its ciphertext is not its own) is logged and
    left as it is, so it cannot stop the others from being rotated.
    """
    rotated = unreadable = 0
    after_id = ""
    while True:
        uow = uow_factory()
        async with uow:
            accounts = list(
                (
                    await uow.session.execute(
                        select(Account)
                        .where(
                            col(Account.id) > after_id,
                            col(Account.token_key_id).is_not(None),
                            col(Account.token_key_id) != cipher.active_key_id,
                        )
                        .order_by(col(Account.id))
                        .limit(batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not accounts:
                break
            after_id = accounts[-1].id
            batch = 0
            for account in accounts:
                try:
                    tokens = read_tokens(account, cipher)
                except TokenDecryptionError as exc:
                    unreadable += 1
                    log.error(
                        "provider_tokens.unreadable_row", account_id=account.id, error=str(exc)
                    )
                    continue
                write_tokens(account, cipher, tokens)
                batch += 1
            await uow.commit()
        rotated += batch
        log.info("provider_tokens.rotated_batch", rows=batch, total=rotated)
    return RotationReport(rotated=rotated, unreadable=unreadable)
