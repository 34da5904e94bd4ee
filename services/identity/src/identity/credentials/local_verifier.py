"""Identity verifies its own access tokens with the keys it holds, not over HTTP."""

from __future__ import annotations

import jwt

from identity.credentials.signing_keys import SigningKeyRing
from lib_auth import AuthError, JwtVerifier


class LocalJwtVerifier(JwtVerifier):
    """lib_auth's JwtVerifier (same checks, same `verify(token) -> Principal`) whose keys come
    from identity's own key ring instead of a JWKS fetch."""

    def __init__(self, keys: SigningKeyRing, *, issuer: str, audience: str) -> None:
        super().__init__("local:signing-key-ring", issuer=issuer, audience=audience)
        self._local_keys = keys.verification_keys()

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        key = self._local_keys.get(kid)
        if key is None:
            raise AuthError("Token signed with an unknown key.")
        return key
