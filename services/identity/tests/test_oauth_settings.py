"""Identity's OAuth settings: providers from JSON, the provider-token keyring and its checks."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError

from identity.config import DEV_PROVIDER_TOKEN_KEY, IdentitySettings

PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://identity:real@db/platform",
    "internal_token": "real-internal-token",
    "token_pepper": "real-pepper",
    "jwt_signing_keys": json.dumps(
        {
            "real": Ed25519PrivateKey.generate()
            .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            .decode()
        }
    ),
    "jwt_active_kid": "real",
}


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_providers_are_read_from_a_json_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "IDENTITY_OAUTH_PROVIDERS",
        json.dumps(
            [
                {
                    "name": "google",
                    "issuer": "https://accounts.google.com",
                    "clientId": "id-1",
                    "clientSecret": "s3cret",
                    "trusted": True,
                },
                {
                    "name": "corp",
                    "issuer": "https://sso.example.com/realms/x",
                    "discovery_url": "https://sso.example.com/x/.well-known/openid-configuration",
                    "client_id": "id-2",
                    "client_secret": "other",
                    "scopes": ["openid", "email"],
                },
            ]
        ),
    )
    settings = IdentitySettings()
    google = settings.oauth_provider("google")
    corp = settings.oauth_provider("corp")
    assert google is not None and corp is not None and settings.oauth_provider("x") is None
    assert google.trusted and not corp.trusted
    assert google.configuration_url == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )
    assert corp.configuration_url == "https://sso.example.com/x/.well-known/openid-configuration"
    assert google.scopes == ["openid", "email", "profile"]
    assert "s3cret" not in repr(settings)


def test_provider_names_are_unique_and_route_safe() -> None:
    provider = {"issuer": "https://i", "clientId": "c", "clientSecret": "s"}
    with pytest.raises(ValidationError, match="same name"):
        IdentitySettings(oauth_providers=[{**provider, "name": "a"}, {**provider, "name": "a"}])
    with pytest.raises(ValidationError):
        IdentitySettings(oauth_providers=[{**provider, "name": "../admin"}])


def test_the_provider_token_keyring_is_checked() -> None:
    with pytest.raises(ValidationError, match="provider_token_active_key_id"):
        IdentitySettings(provider_token_active_key_id="missing")
    with pytest.raises(ValidationError, match="32 bytes"):
        IdentitySettings(
            provider_token_keys=json.dumps({"short": base64.b64encode(b"x" * 16).decode()}),
            provider_token_active_key_id="short",
        )


def test_production_refuses_the_development_provider_token_key() -> None:
    with pytest.raises(ValidationError, match="PROVIDER_TOKEN_KEYS"):
        IdentitySettings(**PRODUCTION)
    # Nor may it hide among real keys.
    with pytest.raises(ValidationError, match="development provider-token key"):
        IdentitySettings(
            **PRODUCTION,
            provider_token_keys=json.dumps({"real": _key(), "old": DEV_PROVIDER_TOKEN_KEY}),
            provider_token_active_key_id="real",
        )
    settings = IdentitySettings(
        **PRODUCTION,
        provider_token_keys=json.dumps({"real": _key()}),
        provider_token_active_key_id="real",
    )
    assert settings.provider_token_active_key_id == "real"
