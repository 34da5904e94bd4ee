"""Helpers of billing's tests (tokens/ too): access tokens and the verifier that trusts them,
signed webhook deliveries, waiting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from lib_auth import JwtVerifier

ISSUER = "identity"
AUDIENCE = "platform"
KID = "billing-test-key"
WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"

_SIGNING_KEY = ed25519.Ed25519PrivateKey.generate()


def jwks() -> dict[str, Any]:
    public = OKPAlgorithm.to_jwk(_SIGNING_KEY.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": KID, "alg": "EdDSA", "use": "sig"}]}


def access_token(user_id: str, roles: tuple[str, ...] = ("USER",)) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "roles": list(roles),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, _SIGNING_KEY, algorithm="EdDSA", headers={"kid": KID})


def bearer(user_id: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token(user_id, roles or ('USER',))}"}


@asynccontextmanager
async def local_jwt_verifier() -> AsyncIterator[JwtVerifier]:
    """A verifier of the tokens above, fetching their JWKS without a network (as identity
    would serve it)."""
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=jwks()))
    )
    try:
        yield JwtVerifier(
            "http://identity.test/.well-known/jwks.json",
            issuer=ISSUER,
            audience=AUDIENCE,
            http=http,
        )
    finally:
        await http.aclose()


def new_user_id() -> str:
    return str(uuid.uuid4())


def signature_header(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A Stripe-Signature header, as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_event(event_type: str, data_object: dict[str, Any], *, created: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": created,
            "livemode": False,
            "api_version": "2017-08-15",
            "data": {"object": data_object},
        },
        indent=2,
    ).encode()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within_s: float = 30, what: str
) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within_s}s waiting for {what}")
