"""Settings of the identity service: every variable is read with the `IDENTITY_` prefix."""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr, model_validator
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
