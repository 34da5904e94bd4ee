"""A small OpenID Connect provider for identity's tests, served over real HTTP by uvicorn.

It has a discovery document, a JWKS, an authorization endpoint that "logs in" whoever the
test names next (no login page) and a token endpoint that checks the client secret, the
redirect URI and the PKCE verifier before it issues an access token, a refresh token and an
RS256-signed ID token. Knobs let a test make it misbehave (wrong nonce, tampered ID token).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "identity-test-client"
CLIENT_SECRET = "identity-test-client-secret"
KID = "test-provider-key-1"

IdTokenMode = Literal["valid", "wrong_nonce", "tampered", "foreign_key"]


@dataclass
class Login:
    """The person the provider signs in at its next authorization request."""

    subject: str
    email: str | None
    email_verified: bool = True
    name: str | None = None


@dataclass
class IssuedTokens:
    access_token: str
    refresh_token: str
    id_token: str


@dataclass
class _Grant:
    login: Login
    nonce: str | None
    code_challenge: str
    redirect_uri: str


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class OidcTestProvider:
    issuer: str = ""
    next_login: Login | None = None
    id_token_mode: IdTokenMode = "valid"
    issued: list[IssuedTokens] = field(default_factory=list)
    _key: rsa.RSAPrivateKey = field(default_factory=_rsa_key)
    _codes: dict[str, _Grant] = field(default_factory=dict)

    def config(self, name: str, *, trusted: bool) -> dict[str, Any]:
        """This provider as an item of IdentitySettings.oauth_providers."""
        return {
            "name": name,
            "issuer": self.issuer,
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "trusted": trusted,
        }

    def _id_token(self, grant: _Grant, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.login.subject,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce-sent" if self.id_token_mode == "wrong_nonce" else grant.nonce,
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "name": grant.login.name,
        }
        if grant.login.email is not None:
            claims["email"] = grant.login.email
            claims["email_verified"] = grant.login.email_verified
        key = _rsa_key() if self.id_token_mode == "foreign_key" else self._key
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
        if self.id_token_mode == "tampered":
            # Keep the signature, change who the token is about.
            header, _, signature = token.split(".")
            forged = jwt.utils.base64url_encode(
                json.dumps({**claims, "sub": "someone-else"}).encode()
            ).decode()
            token = f"{header}.{forged}.{signature}"
        return token

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}

        @app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                raise HTTPException(400, "bad client or response type")
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                raise HTTPException(400, "PKCE (S256) is required")
            if "openid" not in (q.get("scope") or "").split() or self.next_login is None:
                raise HTTPException(400, "not an OpenID request, or nobody to sign in")
            code = secrets.token_urlsafe(24)
            self._codes[code] = _Grant(
                login=self.next_login,
                nonce=q.get("nonce"),
                code_challenge=q["code_challenge"],
                redirect_uri=q["redirect_uri"],
            )
            query = urlencode({"code": code, "state": q.get("state", "")})
            return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant_type, code = form.get("grant_type"), form.get("code", "")
            redirect_uri, code_verifier = form.get("redirect_uri"), form.get("code_verifier", "")
            authorization = request.headers.get("authorization", "")
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if authorization != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self._codes.pop(code, None)  # a code works once
            challenge = _b64url(hashlib.sha256(code_verifier.encode()).digest())
            if (
                grant_type != "authorization_code"
                or grant is None
                or grant.redirect_uri != redirect_uri
                or grant.code_challenge != challenge
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            issued = IssuedTokens(
                access_token=f"provider-access-{secrets.token_urlsafe(24)}",
                refresh_token=f"provider-refresh-{secrets.token_urlsafe(24)}",
                id_token="",
            )
            issued.id_token = self._id_token(grant, issued.access_token)
            self.issued.append(issued)
            return JSONResponse(
                {
                    "access_token": issued.access_token,
                    "refresh_token": issued.refresh_token,
                    "id_token": issued.id_token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "openid email profile",
                },
                headers={"Cache-Control": "no-store"},
            )

        return app


@asynccontextmanager
async def serve_test_provider() -> AsyncIterator[OidcTestProvider]:
    """The provider listening on a free loopback port for the duration of the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    provider = OidcTestProvider(issuer=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the test OIDC provider did not start")
        yield provider
    finally:
        server.should_exit = True
        await task
        sock.close()
