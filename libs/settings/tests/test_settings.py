from typing import ClassVar

import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from lib_settings import DevelopmentSecretError, ServiceSettings, dev_password, dev_secret


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")
    service_name: ClassVar[str] = "example"
    http_port_default: ClassVar[int] = 8009

    signing_key: SecretStr = dev_secret("example-dev-signing-key")


def test_development_defaults_point_at_the_services_own_role() -> None:
    settings = ExampleSettings()
    url = settings.database_url.get_secret_value()
    assert url.startswith("postgresql+asyncpg://example:")
    assert settings.http_port == 8009
    assert settings.worker_metrics_port == 9009
    assert settings.db_schema == "example"


def test_env_prefix_is_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_HTTP_PORT", "9100")
    monkeypatch.setenv("OTHER_HTTP_PORT", "9200")
    assert ExampleSettings().http_port == 9100


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    with pytest.raises(ValidationError) as err:
        ExampleSettings()
    message = str(err.value)
    assert "EXAMPLE_SIGNING_KEY" in message
    assert "EXAMPLE_INTERNAL_TOKEN" in message
    assert "EXAMPLE_DATABASE_URL" in message
    assert isinstance(err.value.errors()[0]["ctx"]["error"], DevelopmentSecretError)


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("EXAMPLE_SIGNING_KEY", "a-real-key")
    monkeypatch.setenv("EXAMPLE_INTERNAL_TOKEN", "a-real-token")
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql+asyncpg://example:s3cret@db/platform")
    settings = ExampleSettings()
    assert settings.signing_key.get_secret_value() == "a-real-key"
    assert dev_password("example") not in settings.database_url.get_secret_value()


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_CONSUMER_PREFETCH", "0")
    with pytest.raises(ValidationError):
        ExampleSettings()
