"""One OpenID Connect provider, spoken to with authlib over HTTP.

Discovery and the provider's JWKS are fetched on first use and cached; a token signed with a
key id the cached JWKS does not know makes it fetch the JWKS once more (the provider rotated
its keys). ID tokens are verified against that JWKS: signature, issuer, audience, expiry,
nonce and `at_hash`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from identity.config import OidcProviderConfig

ID_TOKEN_LEEWAY_S = 60
DEFAULT_ID_TOKEN_ALGORITHMS = ["RS256"]


class ProviderError(Exception):
    """The provider answered something we cannot accept (a refused code, a bad ID token)."""


class ProviderUnavailableError(ProviderError):
    """The provider could not be reached, or its discovery document or JWKS are unusable."""


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class ProviderTokens:
    access_token: str | None
    refresh_token: str | None
    id_token: str | None
    token_type: str | None
    scope: str | None
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """What a verified ID token says about the person who signed in."""

    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    picture: str | None


class OidcProviderClient:
    def __init__(self, config: OidcProviderConfig, *, timeout_s: float = 10.0) -> None:
        self.config = config
        self._timeout_s = timeout_s
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def trusted(self) -> bool:
        return self.config.trusted

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=self._timeout_s) as http:
                response = await http.get(url)
                response.raise_for_status()
                body = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise ProviderUnavailableError(f"{self.name}: GET {url} failed: {exc}") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailableError(f"{self.name}: {url} did not answer a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    metadata = await self._get_json(self.config.configuration_url)
                    # OIDC Discovery 4.3: the document must be the configured issuer's.
                    if metadata.get("issuer") != self.config.issuer:
                        raise ProviderUnavailableError(
                            f"{self.name}: discovery names another issuer"
                        )
                    for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                        if not isinstance(metadata.get(field), str):
                            raise ProviderUnavailableError(f"{self.name}: discovery lacks {field}")
                    self._metadata = metadata
        return self._metadata

    async def _key_set(self, *, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            self._jwks = await self._get_json((await self.metadata())["jwks_uri"])
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError) as exc:
            raise ProviderUnavailableError(f"{self.name}: unusable JWKS: {exc}") from exc

    def _oauth_client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret.get_secret_value(),
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._timeout_s,
        )

    async def authorization_request(self, redirect_uri: str) -> AuthorizationRequest:
        """Where to send the browser, with a fresh state, nonce and PKCE verifier."""
        metadata = await self.metadata()
        state, nonce, code_verifier = generate_token(32), generate_token(32), generate_token(64)
        async with self._oauth_client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=code_verifier)

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str
    ) -> ProviderTokens:
        metadata = await self.metadata()
        try:
            async with self._oauth_client(redirect_uri) as client:
                token = await client.fetch_token(
                    metadata["token_endpoint"], code=code, code_verifier=code_verifier
                )
        except httpx2.TransportError as exc:
            raise ProviderUnavailableError(f"{self.name}: token endpoint: {exc}") from exc
        except (OAuthError, httpx2.HTTPError, ValueError) as exc:
            raise ProviderError(f"{self.name}: code exchange failed: {exc}") from exc
        expires_at = token.get("expires_at")
        return ProviderTokens(
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token"),
            id_token=token.get("id_token"),
            token_type=token.get("token_type"),
            scope=token.get("scope"),
            expires_at=int(expires_at) if expires_at is not None else None,
        )

    async def verify_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None
    ) -> VerifiedIdentity:
        """The identity in `id_token`, or ProviderError if any check fails."""
        metadata = await self.metadata()
        algorithms = metadata.get("id_token_signing_alg_values_supported") or (
            DEFAULT_ID_TOKEN_ALGORITHMS
        )
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"])
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(refresh=False), registry=registry)
            except InvalidKeyIdError:
                token = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            claims = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.config.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                },
                {"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token},
            )
            claims.validate(leeway=ID_TOKEN_LEEWAY_S)
        except (JoseError, ValueError) as exc:
            raise ProviderError(f"{self.name}: ID token rejected: {exc}") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ProviderError(f"{self.name}: ID token has no subject")
        email = claims.get("email")
        return VerifiedIdentity(
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            # Some providers send the boolean as a string.
            email_verified=claims.get("email_verified") in (True, "true"),
            name=_optional_str(claims.get("name")),
            picture=_optional_str(claims.get("picture")),
        )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
