"""Access tokens: published keys, verification by other services, key rotation, settings."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError

from identity.config import DEV_SIGNING_KEY_PEM, DEV_SIGNING_KID, IdentitySettings
from identity.main import create_app
from lib_auth import JwtVerifier

from .helpers import PASSWORD, bearer, register, unique_email


def new_ed25519_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


async def test_jwks_publishes_public_keys_that_lib_auth_verifies_tokens_with(
    client: httpx.AsyncClient,
) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    (key,) = jwks.json()["keys"]
    assert key["kid"] == DEV_SIGNING_KID
    assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and key["use"] == "sig"
    assert "d" not in key  # no private part

    grant = await register(client)
    header = jwt.get_unverified_header(grant["accessToken"])
    assert header == {"alg": "EdDSA", "kid": DEV_SIGNING_KID, "typ": "JWT"}
    async with JwtVerifier(
        "http://identity/.well-known/jwks.json", issuer="identity", audience="platform", http=client
    ) as verifier:
        principal = await verifier.verify(grant["accessToken"])
    assert principal.user_id == grant["user"]["id"]
    assert principal.email == grant["user"]["email"]
    assert principal.roles == frozenset({"USER"})
    claims = principal.claims
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sid"] and claims["jti"]


async def test_tokens_of_a_retired_key_keep_verifying_after_rotation(
    identity_settings: Callable[..., IdentitySettings],
) -> None:
    old_pem, new_pem = new_ed25519_pem(), new_ed25519_pem()
    before = identity_settings(
        jwt_signing_keys=json.dumps({"k-old": old_pem}), jwt_active_kid="k-old"
    )
    after = identity_settings(
        jwt_signing_keys=json.dumps({"k-old": old_pem, "k-new": new_pem}), jwt_active_kid="k-new"
    )
    old_app = create_app(before)
    async with old_app.router.lifespan_context(old_app):
        transport = httpx.ASGITransport(app=old_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as old:
            email = unique_email("rotate")
            old_grant = await register(old, email)
    assert jwt.get_unverified_header(old_grant["accessToken"])["kid"] == "k-old"

    new_app = create_app(after)
    async with new_app.router.lifespan_context(new_app):
        transport = httpx.ASGITransport(app=new_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as new:
            kids = {key["kid"] for key in (await new.get("/.well-known/jwks.json")).json()["keys"]}
            assert kids == {"k-old", "k-new"}
            assert (await new.get("/api/v1/users/me", headers=bearer(old_grant))).status_code == 200
            async with JwtVerifier(
                "http://identity/.well-known/jwks.json",
                issuer="identity",
                audience="platform",
                http=new,
            ) as verifier:
                assert (await verifier.verify(old_grant["accessToken"])).user_id == old_grant[
                    "user"
                ]["id"]
                login = await new.post(
                    "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                )
                new_token = login.json()["accessToken"]
                assert jwt.get_unverified_header(new_token)["kid"] == "k-new"
                assert (await verifier.verify(new_token)).user_id == old_grant["user"]["id"]


async def test_a_token_signed_by_an_unknown_key_is_refused(
    client: httpx.AsyncClient, identity_app
) -> None:
    grant = await register(client)
    claims = jwt.decode(grant["accessToken"], options={"verify_signature": False})
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": DEV_SIGNING_KID},
    )
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_production_refuses_the_development_signing_key() -> None:
    production = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://identity:real@db/platform",
        "internal_token": "real-internal-token",
        "token_pepper": "real-pepper",
        "provider_token_keys": json.dumps({"real": base64.b64encode(os.urandom(32)).decode()}),
        "provider_token_active_key_id": "real",
    }
    with pytest.raises(ValidationError, match="JWT_SIGNING_KEYS"):
        IdentitySettings(**production)
    # Nor may it hide among real keys.
    with pytest.raises(ValidationError, match="development signing key"):
        IdentitySettings(
            **production,
            jwt_signing_keys=json.dumps({"real": new_ed25519_pem(), "old": DEV_SIGNING_KEY_PEM}),
            jwt_active_kid="real",
        )
    settings = IdentitySettings(
        **production,
        jwt_signing_keys=json.dumps({"real": new_ed25519_pem()}),
        jwt_active_kid="real",
    )
    assert settings.jwt_active_kid == "real"


def test_the_active_kid_must_be_a_configured_key() -> None:
    with pytest.raises(ValidationError, match="jwt_active_kid"):
        IdentitySettings(jwt_active_kid="missing")
