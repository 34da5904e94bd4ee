"""Settings of the identity service: every variable is read with the `IDENTITY_` prefix."""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from lib_settings import DevelopmentSecretError, ServiceSettings, dev_secret

DEV_SIGNING_KID = "dev-ed25519-1"
# A development-only Ed25519 key, published here on purpose: production refuses to start with it.
DEV_SIGNING_KEY_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEILk386edrV3ikHNifJKIG7HHhuLkmH1uIjDtwmjJFCDU\n"
    "-----END PRIVATE KEY-----\n"
)
DEV_SIGNING_KEYS = json.dumps({DEV_SIGNING_KID: DEV_SIGNING_KEY_PEM})
# Where `make dev` runs its mail sink (`identity-mail-sink`), so mails go there by default.
DEV_MAIL_SINK_PORT = 1025


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_")

    service_name: ClassVar[str] = "identity"
    http_port_default: ClassVar[int] = 8001

    jwt_signing_keys: SecretStr = dev_secret(
        DEV_SIGNING_KEYS,
        description="JSON object key id -> PEM private key (Ed25519, EC P-256 or RSA); every "
        "key's public half is published in the JWKS, so tokens of a retired key keep verifying",
    )
    jwt_active_kid: str = Field(
        default=DEV_SIGNING_KID,
        min_length=1,
        description="key id (of `JWT_SIGNING_KEYS`) that signs new access tokens",
    )
    jwt_issuer: str = Field(default="identity", description="`iss` claim of access tokens")
    jwt_audience: str = Field(default="platform", description="`aud` claim of access tokens")
    access_token_ttl_s: int = Field(
        default=900, ge=30, le=86_400, description="lifetime of an access token, in seconds"
    )
    refresh_token_ttl_s: int = Field(
        default=30 * 86_400,
        ge=60,
        description="lifetime of a session's refresh token, in seconds (renewed on every use)",
    )
    token_pepper: SecretStr = dev_secret(
        "identity-dev-token-pepper",
        description="HMAC key with which refresh tokens, verification tokens and API keys are "
        "hashed before they are stored",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="failed logins for one email within the window after which further "
        "logins for it are refused (429) without checking the password",
    )
    login_max_failures_per_ip: int = Field(
        default=20,
        ge=1,
        description="failed logins from one IP address within the window after which further "
        "logins from it are refused (429)",
    )
    login_failure_window_s: int = Field(
        default=900,
        ge=1,
        le=86_400,
        description="how long a failed login counts towards the limits, in seconds",
    )

    # --- mail (email verification and password reset) ---
    smtp_host: str = Field(
        default="127.0.0.1", description="SMTP server that account mails are sent through"
    )
    smtp_port: int = Field(
        default=DEV_MAIL_SINK_PORT,
        ge=1,
        le=65_535,
        description="port of the SMTP server (the default is the dev mail sink of `make dev`)",
    )
    smtp_username: str | None = Field(
        default=None, description="SMTP login; empty = send without authenticating"
    )
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(
        default=False, description="upgrade the SMTP connection with STARTTLS (required if set)"
    )
    smtp_ca_file: str | None = Field(
        default=None,
        description="CA bundle (PEM file) that the SMTP server's certificate must chain to; "
        "empty = the system's CAs",
    )
    smtp_timeout_s: float = Field(
        default=10.0, gt=0, description="timeout of each SMTP connection and command, in seconds"
    )
    mail_from: str = Field(
        default="Platform <no-reply@localhost>",
        min_length=3,
        description="`From` address of account mails",
    )
    app_base_url: str = Field(
        default="http://localhost:3000",
        description="base URL of the web app that mails link to (`/verify-email?token=...`, "
        "`/reset-password?token=...`)",
    )
    email_verification_ttl_s: int = Field(
        default=86_400, ge=300, description="lifetime of an email verification token, in seconds"
    )
    password_reset_ttl_s: int = Field(
        default=3_600,
        ge=300,
        le=86_400,
        description="lifetime of a password reset token, in seconds",
    )
    verification_resend_interval_s: int = Field(
        default=60,
        ge=0,
        description="least time between two verification mails to one address (else 429)",
    )
    verification_mails_per_day: int = Field(
        default=5, ge=1, description="verification mails one address can get in 24 hours"
    )
    password_reset_mails_per_hour: int = Field(
        default=3,
        ge=1,
        description="password reset mails one address gets per hour; further requests get the "
        "same 202 answer but no mail",
    )
    referral_reward_tokens: int = Field(
        default=50,
        ge=0,
        description="tokens a completed referral grants the referrer (billing credits them)",
    )

    def signing_key_pems(self) -> dict[str, str]:
        """The configured signing keys, kid -> PEM."""
        keys = json.loads(self.jwt_signing_keys.get_secret_value())
        if not isinstance(keys, dict) or not all(
            isinstance(kid, str) and kid and isinstance(pem, str) for kid, pem in keys.items()
        ):
            raise ValueError("jwt_signing_keys must be a JSON object of key id -> PEM string")
        return keys

    @model_validator(mode="after")
    def _check_signing_keys(self) -> IdentitySettings:
        keys = self.signing_key_pems()
        if self.jwt_active_kid not in keys:
            raise ValueError(f"jwt_active_kid {self.jwt_active_kid!r} is not in jwt_signing_keys")
        # The dev key may not hide among production keys either: anyone can sign with it.
        dev_key = DEV_SIGNING_KEY_PEM.strip()
        if self.environment == "production" and any(
            pem.strip() == dev_key for pem in keys.values()
        ):
            raise DevelopmentSecretError(
                "identity: refusing to start in production with the development signing key; "
                "set IDENTITY_JWT_SIGNING_KEYS"
            )
        return self
