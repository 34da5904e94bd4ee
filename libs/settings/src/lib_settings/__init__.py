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

    environment: Environment = Field(
        default="development",
        description="`development`, `test` or `production`; production refuses development secrets",
    )
    log_level: str = Field(default="INFO", description="log level of the service's loggers")
    log_json: bool = Field(
        default=True, description="JSON log lines (`false`: human-readable console lines)"
    )

    database_url: SecretStr = Field(
        default=SecretStr(""),
        description="SQLAlchemy URL of the service's own role; empty = "
        "`postgresql+asyncpg://<service>:<service>-dev-password@127.0.0.1:5432/platform`",
    )
    database_pool_size: int = Field(
        default=10, ge=1, le=100, description="connections kept in the pool"
    )
    database_max_overflow: int = Field(
        default=10, ge=0, le=100, description="extra connections allowed above the pool size"
    )

    amqp_url: SecretStr = Field(
        default=SecretStr("amqp://guest:guest@127.0.0.1:5672/"), description="RabbitMQ URL"
    )
    events_exchange: str = Field(
        default="events", description="name of the topic exchange all events go through"
    )
    queue_prefix: str = Field(
        default="",
        description="prefix of every queue the service declares (tests keep runs apart with it)",
    )
    queue_expires_ms: int | None = Field(
        default=None,
        ge=1_000,
        description="drop the service's queues after this long unused (previews, tests)",
    )
    consumer_prefetch: int = Field(
        default=64, ge=1, le=10_000, description="unacknowledged deliveries per consumer"
    )
    consumer_batch_size: int = Field(
        default=16, ge=1, le=1_000, description="events a consumer applies in one transaction"
    )
    consumer_concurrency: int = Field(
        default=4, ge=1, le=64, description="batches a consumer applies at once"
    )
    consumer_delivery_limit: int = Field(
        default=5,
        ge=1,
        le=100,
        description="attempts before a message goes to the dead-letter queue",
    )
    consumer_retry_delays_ms: list[int] = Field(
        default=[1_000, 5_000, 30_000],
        min_length=1,
        description="delays of the retry queues, JSON list",
    )
    outbox_batch_size: int = Field(
        default=200, ge=1, le=5_000, description="outbox rows the relay publishes per batch"
    )
    outbox_relay_lanes: int = Field(
        default=2, ge=1, le=16, description="batches the relay has in flight at once"
    )
    outbox_poll_interval_s: float = Field(
        default=1.0, gt=0, description="how often the relay looks for new outbox rows"
    )
    outbox_retention_hours: float = Field(
        default=72.0, gt=0, description="published outbox rows are deleted after this long"
    )
    inbox_retention_days: float = Field(
        default=30.0, gt=0, description="inbox rows (redelivery guards) are deleted after this long"
    )

    http_host: str = Field(
        default="127.0.0.1", description="address the API (and the worker's metrics) listens on"
    )
    http_port: int = Field(
        default=0, description="API port; 0 = the service's port (8001..8005)"
    )  # 0 = the service's port from DESIGN.md
    worker_metrics_port: int = Field(
        default=0, description="worker's Prometheus port; 0 = API port + 1000 (9001..9005)"
    )  # 0 = http_port + 1000

    # Shared by services that call each other's /internal routes.
    internal_token: SecretStr = dev_secret(
        "internal-dev-token", description="shared token of service-to-service `/internal` calls"
    )
    identity_url: str = Field(
        default="http://127.0.0.1:8001", description="base URL of the identity service"
    )

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
