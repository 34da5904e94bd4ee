"""Print the README's configuration table from the fields of `lib_settings.ServiceSettings`.

    uv run python scripts/settings_table.py

Every service reads these with its own prefix (IDENTITY_, BILLING_, MARKET_DATA_, BOOKING_,
CONTENT_). tests/test_compose.py fails when the README misses a field.
"""

from __future__ import annotations

import json
import sys

from pydantic import SecretStr

from lib_settings import ServiceSettings

MEANINGS = {
    "environment": "`development`, `test` or `production`; production refuses development secrets",
    "log_level": "log level of the service's loggers",
    "log_json": "JSON log lines (`false`: human-readable console lines)",
    "database_url": "SQLAlchemy URL of the service's own role; empty = "
    "`postgresql+asyncpg://<service>:<service>-dev-password@127.0.0.1:5432/platform`",
    "database_pool_size": "connections kept in the pool",
    "database_max_overflow": "extra connections allowed above the pool size",
    "amqp_url": "RabbitMQ URL",
    "events_exchange": "name of the topic exchange all events go through",
    "queue_prefix": "prefix of every queue the service declares (tests keep runs apart with it)",
    "queue_expires_ms": "drop the service's queues after this long unused (previews, tests)",
    "consumer_prefetch": "unacknowledged deliveries per consumer",
    "consumer_delivery_limit": "attempts before a message goes to the dead-letter queue",
    "consumer_retry_delays_ms": "delays of the retry queues, JSON list",
    "outbox_batch_size": "outbox rows the relay publishes per batch",
    "outbox_poll_interval_s": "how often the relay looks for new outbox rows",
    "outbox_retention_hours": "published outbox rows are deleted after this long",
    "http_host": "address the API (and the worker's metrics) listens on",
    "http_port": "API port; 0 = the service's port (8001..8005)",
    "worker_metrics_port": "worker's Prometheus port; 0 = API port + 1000 (9001..9005)",
    "internal_token": "shared token of service-to-service `/internal` calls",
    "identity_url": "base URL of the identity service",
}


def default(value: object) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def rows() -> list[str]:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in ServiceSettings.model_fields.items():
        meaning = MEANINGS.get(name, "")
        lines.append(f"| `<SERVICE>_{name.upper()}` | `{default(field.default)}` | {meaning} |")
    return lines


if __name__ == "__main__":
    missing = sorted(set(ServiceSettings.model_fields) - set(MEANINGS))
    if missing:
        print(f"no meaning for: {', '.join(missing)}", file=sys.stderr)
    print("\n".join(rows()))
