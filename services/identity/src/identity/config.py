"""Settings of the identity service: every variable is read with the `IDENTITY_` prefix."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from lib_settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_")

    service_name: ClassVar[str] = "identity"
    http_port_default: ClassVar[int] = 8001
