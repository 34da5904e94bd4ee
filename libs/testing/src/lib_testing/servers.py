"""Finding the PostgreSQL and RabbitMQ servers a test session runs against.

Order: a URL from the environment; else a throwaway container when a Docker engine answers;
else the local default. A server that cannot be reached skips the tests that need it on a
developer's machine and fails them, with how to start it, when `CI=true`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "RabbitMQ": "rabbitmq-server -detached",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def unavailable(kind: str, url: str, env_var: str) -> None:
    """Fail loudly in CI, skip elsewhere; always say how to get the server."""
    message = (
        f"{kind} is not reachable at {url}. Start it with `{HOW_TO_START[kind]}`, "
        f"or point {env_var} at a running server."
    )
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@dataclass
class Server:
    url: str
    container: object | None = None


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    env = os.environ.get("TEST_POSTGRES_URL")
    if env is None and docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            yield Server(container.get_connection_url(), container)
        return
    url = env or DEFAULT_POSTGRES_URL
    if not reachable(url, 5432):
        unavailable("PostgreSQL", url, "TEST_POSTGRES_URL")
    yield Server(url)


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[Server]:
    env = os.environ.get("TEST_AMQP_URL")
    if env is None and docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            params = container.get_connection_params()
            creds = params.credentials
            url = f"amqp://{creds.username}:{creds.password}@{params.host}:{params.port}/"
            yield Server(url, container)
        return
    url = env or DEFAULT_AMQP_URL
    if not reachable(url, 5672):
        unavailable("RabbitMQ", url, "TEST_AMQP_URL")
    yield Server(url)
