"""Settings of the billing service: every variable is read with the `BILLING_` prefix."""

from __future__ import annotations

from typing import ClassVar, get_args

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from lib_contracts.common import SubscriptionTier
from lib_settings import ServiceSettings, dev_secret

LOCALSTRIPE_URL = "http://127.0.0.1:8420"
DEV_WEBHOOK_SECRET = "whsec_billing_dev"


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_")

    service_name: ClassVar[str] = "billing"
    http_port_default: ClassVar[int] = 8002

    stripe_api_key: SecretStr = dev_secret(
        "sk_test_localstripe", description="Stripe secret API key (`sk_...`)"
    )
    stripe_api_base: str = Field(
        default=LOCALSTRIPE_URL,
        description="base URL of the Stripe API (`https://api.stripe.com`; localstripe in "
        "development and tests)",
    )
    stripe_webhook_secrets: SecretStr = dev_secret(
        DEV_WEBHOOK_SECRET,
        description="comma-separated webhook signing secrets (`whsec_...`); a delivery signed "
        "with any of them is accepted, so a secret can be rotated without downtime",
    )
    stripe_webhook_tolerance_s: int = Field(
        default=300,
        gt=0,
        le=3_600,
        description="webhook signatures older than this many seconds are refused (replays)",
    )
    stripe_timeout_s: float = Field(
        default=10.0, gt=0, description="timeout of one Stripe API request, in seconds"
    )
    stripe_max_network_retries: int = Field(
        default=2, ge=0, le=10, description="retries of a Stripe request after a network error"
    )

    reservation_timeout_s: int = Field(
        default=1_800,
        gt=0,
        description="a token reservation neither committed nor released within this many "
        "seconds is released by the `release-expired-reservations` job",
    )
    reservation_batch_size: int = Field(
        default=64,
        ge=1,
        le=1_000,
        description="the most concurrent reserve calls one statement takes (calls that arrive "
        "while a statement runs share the next one)",
    )
    daily_generation_limits: dict[str, int] = Field(
        default_factory=dict,
        description='generations per UTC day by tier, JSON object (e.g. `{"FREE": 5}`); a '
        "tier not listed gets its plan's `dailyGenerations`",
    )

    jwt_issuer: str = Field(
        default="identity", description="`iss` of identity's access tokens (verified locally)"
    )
    jwt_audience: str = Field(default="platform", description="`aud` of identity's access tokens")

    @model_validator(mode="after")
    def _stripe_base_is_https_in_production(self) -> BillingSettings:
        if self.environment == "production" and not self.stripe_api_base.startswith("https://"):
            raise ValueError("BILLING_STRIPE_API_BASE must be an https URL in production")
        return self

    @model_validator(mode="after")
    def _daily_limits_are_tiers(self) -> BillingSettings:
        unknown = set(self.daily_generation_limits) - set(get_args(SubscriptionTier))
        if unknown or any(limit < 0 for limit in self.daily_generation_limits.values()):
            raise ValueError(
                "BILLING_DAILY_GENERATION_LIMITS maps tiers to limits >= 0; "
                f"unknown tiers: {sorted(unknown)}"
            )
        return self

    def webhook_secrets(self) -> list[str]:
        secrets = self.stripe_webhook_secrets.get_secret_value().split(",")
        return [secret.strip() for secret in secrets if secret.strip()]
