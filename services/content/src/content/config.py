"""Settings of the content service: every variable is read with the `CONTENT_` prefix."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from lib_settings import ServiceSettings


class ContentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENT_")

    service_name: ClassVar[str] = "content"
    http_port_default: ClassVar[int] = 8005
