"""Settings shared by every service: one env prefix per service, safe defaults for development.

A service subclasses `ServiceSettings`, sets `service_name` and its env prefix, and builds the
settings object once at start-up (never at import). In production the object refuses to exist
while any secret still has its development value.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

DEV_DATABASE_HOST = "127.0.0.1:5432"
DEV_DATABASE_NAME = "platform"


class DevelopmentSecretError(ValueError):
    """A production service was configured with a secret that only development may use."""


def dev_password(service_name: str) -> str:
    """The development password of a service's database role (also in deploy/postgres)."""
    return f"{service_name}-dev-password"


def dev_secret(value: str, **kwargs: Any) -> Any:
    """A secret field whose default is only good for development; production must override it."""
    return Field(default=SecretStr(value), json_schema_extra={"dev_secret": value}, **kwargs)


class ServiceSettings(BaseSettings):
    """Base of every service's settings. Subclasses set `service_name` and `env_prefix`."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = ""
    http_port_default: ClassVar[int] = 8000

    environment: Environment = "development"
    log_level: str = "INFO"
    log_json: bool = True

    # An empty URL means the development URL of this service's own database role.
    database_url: SecretStr = SecretStr("")
    database_pool_size: int = Field(default=10, ge=1, le=100)
    database_max_overflow: int = Field(default=10, ge=0, le=100)

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    events_exchange: str = "events"
    # Prefixes every queue this service declares; tests use it to keep their runs apart.
    queue_prefix: str = ""
    # Drop queues unused this long; for short-lived environments (previews, test runs).
    queue_expires_ms: int | None = Field(default=None, ge=1_000)
    consumer_prefetch: int = Field(default=64, ge=1, le=10_000)
    consumer_delivery_limit: int = Field(default=5, ge=1, le=100)
    consumer_retry_delays_ms: list[int] = Field(default=[1_000, 5_000, 30_000], min_length=1)
    outbox_batch_size: int = Field(default=200, ge=1, le=5_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_retention_hours: float = Field(default=72.0, gt=0)

    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0 = the service's port from DESIGN.md
    worker_metrics_port: int = 0  # 0 = http_port + 1000

    # Shared by services that call each other's /internal routes.
    internal_token: SecretStr = dev_secret("internal-dev-token")
    identity_url: str = "http://127.0.0.1:8001"

    @model_validator(mode="after")
    def _fill_defaults(self) -> ServiceSettings:
        if not self.database_url.get_secret_value():
            self.database_url = SecretStr(self.dev_database_url())
        if not self.http_port:
            self.http_port = self.http_port_default
        if not self.worker_metrics_port:
            self.worker_metrics_port = self.http_port + 1000
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        offending = [name for name, value in self._dev_secret_values() if value]
        if dev_password(self.service_name) in self.database_url.get_secret_value():
            offending.append("database_url")
        if offending:
            prefix = self.model_config.get("env_prefix", "")
            names = ", ".join(f"{prefix}{name}".upper() for name in sorted(offending))
            raise DevelopmentSecretError(
                f"{self.service_name}: refusing to start in production with development "
                f"secrets; set {names}"
            )
        return self

    def _dev_secret_values(self) -> list[tuple[str, bool]]:
        """(field name, still has its development value) for every dev-secret field."""
        found = []
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and "dev_secret" in extra:
                value = getattr(self, name)
                plain = value.get_secret_value() if isinstance(value, SecretStr) else value
                found.append((name, plain == extra["dev_secret"]))
        return found

    @classmethod
    def dev_database_url(cls) -> str:
        role = cls.service_name
        return (
            f"postgresql+asyncpg://{role}:{dev_password(role)}"
            f"@{DEV_DATABASE_HOST}/{DEV_DATABASE_NAME}"
        )

    @property
    def db_schema(self) -> str:
        """Postgres schema of this service: the package name (DESIGN.md)."""
        return self.service_name


__all__ = [
    "DevelopmentSecretError",
    "Environment",
    "ServiceSettings",
    "dev_password",
    "dev_secret",
]
