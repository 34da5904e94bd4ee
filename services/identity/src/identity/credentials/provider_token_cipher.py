"""Encryption at rest of the tokens a provider hands us (access, refresh and ID tokens).

AES-256-GCM with a fresh 96-bit nonce per value. The associated data names the row and the
column a ciphertext belongs to, so a ciphertext copied to another row or column fails to
decrypt instead of handing one user's token to another. Keys form a ring: new values are
encrypted under the active key, and every configured key still decrypts, so a rotation can
re-encrypt rows one batch at a time while all of them stay readable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.config import IdentitySettings

NONCE_BYTES = 12


class TokenDecryptionError(Exception):
    """A ciphertext that does not belong where it was found, or whose key is gone."""


def associated_data(table: str, row_id: str, column: str) -> bytes:
    return f"identity.{table}:{row_id}:{column}".encode()


class ProviderTokenCipher:
    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active provider-token key {active_key_id!r} is not configured")
        self._raw_keys = dict(keys)
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> ProviderTokenCipher:
        return cls(settings.provider_token_key_values(), settings.provider_token_active_key_id)

    def key(self, key_id: str) -> bytes:
        """A configured key (to build a ring that adds keys to this one)."""
        return self._raw_keys[key_id]

    def encrypt(self, plaintext: str, *, aad: bytes) -> bytes:
        """nonce || ciphertext+tag, under the active key (whose id the caller stores)."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._keys[self.active_key_id].encrypt(nonce, plaintext.encode(), aad)

    def decrypt(self, blob: bytes, *, key_id: str, aad: bytes) -> str:
        aead = self._keys.get(key_id)
        if aead is None:
            raise TokenDecryptionError(f"provider-token key {key_id!r} is not configured")
        try:
            plaintext = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise TokenDecryptionError("ciphertext does not belong to this row") from None
        return plaintext.decode()
