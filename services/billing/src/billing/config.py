"""Settings of the billing service: every variable is read with the `BILLING_` prefix."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from lib_settings import ServiceSettings


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_")

    service_name: ClassVar[str] = "billing"
    http_port_default: ClassVar[int] = 8002
