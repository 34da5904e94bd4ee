"""pytest plugin: each test session gets its own database and its own exchange and queues.

Fixtures:
- `platform_database`: a fresh database provisioned with deploy/postgres/init.sql (roles and
  schemas), dropped at the end; `.url_for(role)` gives a service role's asyncpg URL.
- `bus_namespace`: an exchange name and a queue prefix no other session uses.
- `service_settings`: builds a service's settings pointed at both.
- `migrate_service`: runs a service's Alembic migrations once per session.
- `localstripe`: a localstripe server for the session; `stripe_api`: the same, flushed (no
  Stripe objects left) before the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lib_database.migrations import upgrade
from lib_database.provision import database_url, drop_database, provision
from lib_settings import ServiceSettings, dev_password
from lib_testing.servers import LocalStripe, localstripe_server, postgres_server, rabbitmq_server

S = TypeVar("S", bound=ServiceSettings)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "platform_db_init_sql",
        "SQL that creates the service roles and schemas in a fresh database",
        default="deploy/postgres/init.sql",
    )
    parser.addini(
        "platform_services_dir", "folder holding services/<name>/alembic.ini", default="services"
    )


@dataclass
class TestDatabase:
    admin_url: str
    name: str

    @property
    def admin_database_url(self) -> str:
        return database_url(self.admin_url, self.name)

    def url_for(self, role: str, *, driver: str = "postgresql+asyncpg") -> str:
        base = database_url(self.admin_url, self.name)
        rest = base.split("@", 1)[1]
        return f"{driver}://{role}:{dev_password(role)}@{rest}"


@dataclass
class BusNamespace:
    amqp_url: str
    run_id: str
    exchange: str = field(init=False)
    queue_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.exchange = f"test.{self.run_id}.events"
        self.queue_prefix = f"test.{self.run_id}."


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    with localstripe_server() as server:
        yield server


@pytest.fixture
def stripe_api(localstripe: LocalStripe) -> LocalStripe:
    """localstripe with no objects left from an earlier test."""
    localstripe.flush()
    return localstripe


@pytest.fixture(scope="session")
def platform_database(
    postgres_admin_url: str, run_id: str, pytestconfig: pytest.Config
) -> Iterator[TestDatabase]:
    sql = Path(pytestconfig.rootpath, pytestconfig.getini("platform_db_init_sql"))
    db = TestDatabase(admin_url=postgres_admin_url, name=f"test_{run_id}")
    asyncio.run(provision(postgres_admin_url, db.name, sql))
    yield db
    asyncio.run(drop_database(postgres_admin_url, db.name))


@pytest.fixture(scope="session")
def bus_namespace(amqp_url: str, run_id: str) -> Iterator[BusNamespace]:
    namespace = BusNamespace(amqp_url=amqp_url, run_id=run_id)
    yield namespace
    asyncio.run(_delete_exchange(amqp_url, namespace.exchange))


async def _delete_exchange(amqp_url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(name)


@pytest.fixture(scope="session")
def service_settings(
    platform_database: TestDatabase, bus_namespace: BusNamespace
) -> Callable[..., Any]:
    """`service_settings(IdentitySettings, **overrides)`: settings for this test session."""

    def make(settings_class: type[S], **overrides: Any) -> S:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": platform_database.url_for(settings_class.service_name),
            "amqp_url": bus_namespace.amqp_url,
            "events_exchange": bus_namespace.exchange,
            "queue_prefix": bus_namespace.queue_prefix,
            "queue_expires_ms": 15 * 60 * 1000,
            "outbox_poll_interval_s": 0.2,
            "consumer_retry_delays_ms": [200, 500],
            "log_json": False,
        }
        values.update(overrides)
        return settings_class(**values)

    return make


@pytest.fixture(scope="session")
def migrate_service(
    platform_database: TestDatabase, pytestconfig: pytest.Config
) -> Callable[[str], None]:
    """`migrate_service("identity")`: upgrade that service's schema to head, once a session."""
    done: set[str] = set()
    services_dir = Path(pytestconfig.rootpath, pytestconfig.getini("platform_services_dir"))

    def migrate(service: str) -> None:
        if service in done:
            return
        ini = services_dir / service / "alembic.ini"
        # Alembic's env runs its own event loop: give it a thread without one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(upgrade, str(ini), platform_database.url_for(service)).result()
        done.add(service)

    return migrate
