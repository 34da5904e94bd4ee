"""Access tokens: short-lived JWTs signed with the active key, bound to a session (`sid`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from identity.credentials.signing_keys import SigningKeyRing


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int  # seconds


class AccessTokenIssuer:
    def __init__(self, keys: SigningKeyRing, *, issuer: str, audience: str, ttl_s: int) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s

    def issue(
        self, *, user_id: str, email: str | None, role: str, session_id: str
    ) -> IssuedAccessToken:
        now = datetime.now(UTC)
        claims = {
            "sub": user_id,
            "email": email,
            "roles": [role],
            "sid": session_id,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_s),
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
        }
        key = self._keys.active
        token = jwt.encode(
            claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}
        )
        return IssuedAccessToken(token=token, expires_in=self.ttl_s)
