from __future__ import annotations

import asyncio

import pytest

from lib_testing import servers
from lib_testing.tcp_proxy import TcpProxy


def test_unreachable_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="rabbitmq-server -detached"):
        servers.unavailable("RabbitMQ", "amqp://127.0.0.1:1/", "TEST_AMQP_URL")


def test_unreachable_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pg_ctlcluster"):
        servers.unavailable("PostgreSQL", "postgresql://127.0.0.1:1/x", "TEST_POSTGRES_URL")


def test_reachable_checks_a_real_port() -> None:
    assert not servers.reachable("postgresql://127.0.0.1:1/x", 5432)


async def test_session_database_is_fresh_and_provisioned(platform_database) -> None:
    import asyncpg

    conn = await asyncpg.connect(platform_database.url_for("billing", driver="postgresql"))
    try:
        assert await conn.fetchval("SELECT current_database()") == platform_database.name
        assert await conn.fetchval("SELECT current_schema()") == "billing"
    finally:
        await conn.close()


async def test_tcp_proxy_forwards_and_cuts() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = await TcpProxy("127.0.0.1", server.sockets[0].getsockname()[1]).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await reader.read(4) == b"ping"
        await proxy.cut()
        assert await asyncio.wait_for(reader.read(4), 2) == b""  # the connection is gone
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"pong")
        assert await reader.read(4) == b"pong"  # and new ones go through again
        writer.close()
    finally:
        await proxy.stop()
        server.close()


def test_missing_localstripe_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(servers, "localstripe_binary", lambda: None)
    with (
        pytest.raises(pytest.fail.Exception, match="uv tool install"),
        servers.localstripe_server(),
    ):
        pass


def test_missing_localstripe_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(servers, "localstripe_binary", lambda: None)
    with (
        pytest.raises(pytest.skip.Exception, match="localstripe is not installed"),
        servers.localstripe_server(),
    ):
        pass


def test_stripe_api_is_flushed_between_tests(stripe_api: servers.LocalStripe) -> None:
    import json
    import urllib.request

    def customers() -> list[object]:
        request = urllib.request.Request(
            f"{stripe_api.url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return list(json.load(response)["data"])

    created = urllib.request.Request(
        f"{stripe_api.url}/v1/customers",
        data=b"email=a%40example.com",
        headers={"Authorization": "Bearer sk_test_x"},
        method="POST",
    )
    urllib.request.urlopen(created, timeout=10).read()
    assert len(customers()) == 1
    stripe_api.flush()
    assert customers() == []
