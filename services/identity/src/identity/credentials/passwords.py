"""Password hashing with argon2id, off the event loop (a hash costs tens of milliseconds)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, m=64 MiB, p=4) exceed OWASP's
# minimum for argon2id (t=2, m=19 MiB, p=1).
_DEFAULT_HASHER = Argon2Hasher(type=Type.ID)


class PasswordHasher:
    def __init__(self, hasher: Argon2Hasher = _DEFAULT_HASHER) -> None:
        self._hasher = hasher
        # Made once, when the app is built (before it serves), so the first login of an
        # unknown email costs one verify like every other, not a hash and a verify.
        self._dummy_hash = hasher.hash("dummy password of no account")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown user, OAuth-only account) it checks
        against a dummy hash so that the answer takes as long as for a real account."""
        if password_hash is None:
            await asyncio.to_thread(self._matches, self._dummy_hash, password)
            return False
        return await asyncio.to_thread(self._matches, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """The hash was made with other (older) parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
