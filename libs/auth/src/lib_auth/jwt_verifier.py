"""Local verification of identity's access tokens against its published JWKS.

Keys are cached for a TTL. A token signed with a key we do not know triggers a refetch (so a
rotation is picked up at once), but at most one per `min_refetch_interval_s`, so a flood of
made-up key ids cannot hammer identity. Concurrent verifies wait for one shared fetch. If
identity is unreachable, keys we already have keep working past their TTL, and the fetch is
retried at most once per `min_refetch_interval_s`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import structlog

from lib_auth.errors import AuthError, JwksUnavailableError
from lib_auth.http_client import HttpClientHolder
from lib_auth.principal import Principal

# Asymmetric only: `none` and the HMAC family (HS*) are never accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
_SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

logger = structlog.stdlib.get_logger(__name__)


class JwtVerifier(HttpClientHolder):
    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str | None,
        audience: str | None,
        cache_ttl_s: float = 300,
        min_refetch_interval_s: float = 5.0,
        leeway_s: float = 10.0,
        timeout_s: float = 3.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.cache_ttl_s = cache_ttl_s
        self.min_refetch_interval_s = min_refetch_interval_s
        self.leeway_s = leeway_s
        super().__init__(http, timeout_s)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._unknown_kid_refetch_at = 0.0  # monotonic time before which no such refetch
        self._retry_after_failure_at = 0.0
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid access token; AuthError (401) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("Malformed token.") from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise AuthError("Token algorithm not accepted.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("Token has no key id.")

        key = await self._signing_key(kid)
        if key.algorithm_name != algorithm:
            raise AuthError("Token algorithm does not match its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("Token has expired.") from None
        except jwt.InvalidIssuerError:
            raise AuthError("Token issuer not accepted.") from None
        except jwt.InvalidAudienceError:
            raise AuthError("Token audience not accepted.") from None
        except jwt.InvalidSignatureError:
            raise AuthError("Token signature is invalid.") from None
        except jwt.PyJWTError:
            raise AuthError("Token is invalid.") from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AuthError("Token has no subject.")
        return Principal.from_claims(claims)

    async def _signing_key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is None or self._expired():
            await self._refresh(kid)
            key = self._keys.get(kid)
        if key is None:
            raise AuthError("Token signed with an unknown key.")
        return key

    def _expired(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self.cache_ttl_s

    async def _refresh(self, kid: str) -> None:
        async with self._lock:
            # Another verify may have fetched while this one waited for the lock.
            if kid in self._keys and not self._expired():
                return
            now = time.monotonic()
            if now < self._retry_after_failure_at:
                if not self._keys:
                    raise JwksUnavailableError()
                return
            if self._keys and not self._expired():
                # The keys are fresh but do not know this kid: a rotation, or a made-up kid.
                if now < self._unknown_kid_refetch_at:
                    return
                self._unknown_kid_refetch_at = now + self.min_refetch_interval_s
            try:
                keys = await self._fetch_keys()
            except (httpx.HTTPError, ValueError) as exc:
                self._retry_after_failure_at = now + self.min_refetch_interval_s
                logger.warning("jwks fetch failed", url=self.jwks_url, error=repr(exc))
                if not self._keys:
                    raise JwksUnavailableError() from exc
                return  # keep verifying with the keys we have
            self._keys = keys
            self._fetched_at = now

    async def _fetch_keys(self) -> dict[str, jwt.PyJWK]:
        response = await self._client().get(self.jwks_url)
        response.raise_for_status()
        document = response.json()
        raw_keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw_keys, list):
            raise ValueError("JWKS document has no key list")
        keys: dict[str, jwt.PyJWK] = {}
        for raw in raw_keys:
            if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
                continue
            if raw.get("kty") not in _SIGNING_KEY_TYPES or raw.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(raw)
            except jwt.PyJWTError:
                logger.warning("unusable jwk skipped", kid=raw["kid"])
                continue
            if key.algorithm_name in ASYMMETRIC_ALGORITHMS:
                keys[raw["kid"]] = key
        if not keys:
            raise ValueError("JWKS document has no usable signing key")
        return keys
