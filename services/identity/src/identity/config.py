"""Settings of the identity service: every variable is read with the `IDENTITY_` prefix."""

from __future__ import annotations

import base64
import json
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel
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

DEV_PROVIDER_TOKEN_KEY_ID = "dev-aesgcm-1"
# A development-only AES-256 key (base64), published on purpose: production refuses it.
DEV_PROVIDER_TOKEN_KEY = "ZGV2LW9ubHktcHJvdmlkZXItdG9rZW4ta2V5LTMyYiE="
DEV_PROVIDER_TOKEN_KEYS = json.dumps({DEV_PROVIDER_TOKEN_KEY_ID: DEV_PROVIDER_TOKEN_KEY})


class OidcProviderConfig(BaseModel):
    """One OpenID Connect provider users may sign in with (an item of `OAUTH_PROVIDERS`)."""

    # Both `clientId` and `client_id` are accepted in the JSON.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="the `{provider}` of the routes"
    )
    issuer: str = Field(min_length=1, description="issuer URL; must equal the ID tokens' `iss`")
    discovery_url: str | None = Field(
        default=None,
        description="OpenID configuration URL; default `<issuer>/.well-known/openid-configuration`",
    )
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scopes: list[str] = Field(default=["openid", "email", "profile"], min_length=1)
    trusted: bool = Field(
        default=False,
        description="its verified emails may link to an existing user with that email",
    )

    @property
    def configuration_url(self) -> str:
        return self.discovery_url or (self.issuer.rstrip("/") + "/.well-known/openid-configuration")


class RateLimit(BaseModel):
    """Calls one API key may make per minute and per day (fixed UTC windows)."""

    per_minute: int = Field(ge=1)
    per_day: int = Field(ge=1)


# Keyed by the plan tiers of lib_contracts.common.SubscriptionTier.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "FREE": RateLimit(per_minute=60, per_day=1_000),
    "BASIC": RateLimit(per_minute=120, per_day=10_000),
    "STARTER": RateLimit(per_minute=120, per_day=10_000),
    "STANDARD": RateLimit(per_minute=300, per_day=50_000),
    "PRO": RateLimit(per_minute=600, per_day=200_000),
    "PREMIUM": RateLimit(per_minute=600, per_day=200_000),
    "ENTERPRISE": RateLimit(per_minute=3_000, per_day=2_000_000),
}
DEFAULT_API_KEY_SCOPES = [
    "market_data:read",
    "market_data:export",
    "content:read",
    "content:write",
]


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

    oauth_providers: list[OidcProviderConfig] = Field(
        default=[],
        description="JSON list of OpenID Connect providers: name, issuer, discoveryUrl "
        "(optional), clientId, clientSecret, scopes, trusted",
    )
    oauth_redirect_base_url: str = Field(
        default="",
        description="public base URL of identity that providers redirect back to; empty = "
        "the base URL of the authorize request",
    )
    oauth_flow_ttl_s: int = Field(
        default=600,
        ge=30,
        le=3_600,
        description="how long a started provider sign-in may take (state cookie lifetime), s",
    )
    provider_token_keys: SecretStr = dev_secret(
        DEV_PROVIDER_TOKEN_KEYS,
        description="JSON object key id -> base64 AES key (256 bits) that encrypt provider "
        "tokens at rest; keep a retired key until `rotate-token-keys` has re-encrypted its rows",
    )
    provider_token_active_key_id: str = Field(
        default=DEV_PROVIDER_TOKEN_KEY_ID,
        min_length=1,
        description="key id (of `PROVIDER_TOKEN_KEYS`) that encrypts new provider tokens",
    )

    def oauth_provider(self, name: str) -> OidcProviderConfig | None:
        return next((p for p in self.oauth_providers if p.name == name), None)

    def provider_token_key_values(self) -> dict[str, bytes]:
        """The configured provider-token keys, key id -> raw AES key."""
        keys = json.loads(self.provider_token_keys.get_secret_value())
        if not isinstance(keys, dict) or not keys:
            raise ValueError("provider_token_keys must be a JSON object of key id -> base64 key")
        decoded: dict[str, bytes] = {}
        for key_id, value in keys.items():
            raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
            if not key_id or len(raw) != 32:
                raise ValueError(f"provider_token_keys[{key_id!r}] must be 32 bytes, base64")
            decoded[key_id] = raw
        return decoded

    api_key_scopes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_API_KEY_SCOPES),
        min_length=1,
        description="the scopes an API key may be given, JSON list",
    )
    api_key_rate_limits: dict[str, RateLimit] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="calls per minute and per day of an API key, by its tier, JSON object "
        'tier -> {"per_minute": n, "per_day": n}; a tier missing here gets FREE\'s limits',
    )
    api_keys_per_user: int = Field(
        default=25, ge=1, description="API keys (not revoked) a user may hold at once"
    )

    trial_days: int = Field(
        default=14, ge=1, description="how long a trial workspace lasts when no expiresAt is given"
    )
    trial_max_days: int = Field(
        default=30, ge=1, description="the latest expiresAt a trial workspace may ask for, in days"
    )
    trials_per_user: int = Field(
        default=1, ge=1, description="active trial workspaces a user may hold at once"
    )
    trial_keys_per_workspace: int = Field(
        default=10, ge=1, description="API keys (not revoked) a trial workspace may hold"
    )

    def rate_limit_for(self, tier: str) -> RateLimit:
        return self.api_key_rate_limits.get(tier) or self.api_key_rate_limits.get(
            "FREE", DEFAULT_RATE_LIMITS["FREE"]
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

    @model_validator(mode="after")
    def _check_provider_settings(self) -> IdentitySettings:
        token_keys = self.provider_token_key_values()
        if self.provider_token_active_key_id not in token_keys:
            raise ValueError(
                f"provider_token_active_key_id {self.provider_token_active_key_id!r} is not in "
                "provider_token_keys"
            )
        dev_key = base64.b64decode(DEV_PROVIDER_TOKEN_KEY)
        if self.environment == "production" and dev_key in token_keys.values():
            raise DevelopmentSecretError(
                "identity: refusing to start in production with the development provider-token "
                "key; set IDENTITY_PROVIDER_TOKEN_KEYS"
            )
        names = [p.name for p in self.oauth_providers]
        if len(names) != len(set(names)):
            raise ValueError("oauth_providers: two providers have the same name")
        return self
