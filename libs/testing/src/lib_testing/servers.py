"""Finding the PostgreSQL and RabbitMQ servers a test session runs against.

localstripe (a fake Stripe API) is always started locally, on a free port, per test session.

Order: a URL from the environment; else a throwaway container when a Docker engine answers;
else the local default. A server that cannot be reached skips the tests that need it on a
developer's machine and fails them, with how to start it, when `CI=true`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


LOCALSTRIPE_HOW_TO_INSTALL = "uv tool install --python 3.11 localstripe (or `make tools`)"


def localstripe_binary() -> str | None:
    """The localstripe command: on PATH, or where `uv tool install` puts it."""
    found = shutil.which("localstripe")
    if found:
        return found
    candidate = Path.home() / ".local" / "bin" / "localstripe"
    return str(candidate) if candidate.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStripe:
    """A running localstripe: its API base URL, and its `/_config` routes."""

    url: str

    def _config(self, method: str, path: str, form: dict[str, str] | None = None) -> None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def flush(self) -> None:
        """Forget every object (customers, subscriptions, ...): a clean Stripe per test."""
        self._config("DELETE", "/_config/data")

    def register_webhook(
        self, name: str, url: str, secret: str, events: list[str] | None = None
    ) -> None:
        """Deliver events (all, or only `events`) to `url`, signed with `secret`."""
        form = {"url": url, "secret": secret}
        for index, event in enumerate(events or []):
            form[f"events[{index}]"] = event
        self._config("POST", f"/_config/webhooks/{name}", form)


@contextlib.contextmanager
def localstripe_server() -> Iterator[LocalStripe]:
    """localstripe on a free port, from scratch (its state file is one per machine, so it is
    never loaded), stopped at the end. Missing binary: a skip, or a failure when CI=true."""
    binary = localstripe_binary()
    if binary is None:
        message = f"localstripe is not installed. Install it with `{LOCALSTRIPE_HOW_TO_INSTALL}`."
        if in_ci():
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not reachable(f"http://127.0.0.1:{port}", port):
            if process.poll() is not None:
                pytest.fail(f"localstripe exited with {process.returncode} at start-up")
            if time.monotonic() > deadline:
                pytest.fail("localstripe did not listen within 30 s")
            time.sleep(0.1)
        yield LocalStripe(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
