"""Opaque secrets handed to clients (refresh tokens, later verification tokens): random, and
stored only as an HMAC under the server's pepper, so a leaked table reveals none of them."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_opaque_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class TokenDigester:
    def __init__(self, pepper: str) -> None:
        self._key = pepper.encode()

    def digest(self, token: str) -> str:
        """The keyed hash under which a token is stored and looked up."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()
