"""The broker connection is cut mid-stream: nothing is lost, relay and consumer reconnect."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

from lib_testing.tcp_proxy import TcpProxy

from .conftest import (
    emit_probes,
    probe_counts,
    probe_subscription,
    start_worker,
    unpublished,
    wait_until,
)


def through_proxy(amqp_url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(amqp_url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def test_cut_connections_lose_nothing_and_reconnect(
    service_settings, migrated, producer_db, consumer_db, workers, amqp_url
) -> None:
    from billing.config import BillingSettings
    from identity.config import IdentitySettings

    upstream = urlsplit(amqp_url)
    proxy = await TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5672).start()
    try:
        url = through_proxy(amqp_url, proxy)
        producer_settings = service_settings(IdentitySettings, amqp_url=url)
        consumer_settings = service_settings(BillingSettings, amqp_url=url)
        await start_worker(workers, consumer_settings, consumer_db, probe_subscription("outage"))
        await start_worker(workers, producer_settings, producer_db)

        writer = asyncio.create_task(
            emit_probes(producer_db, producer_settings, range(3_000), per_tx=50)
        )

        async def some_applied() -> bool:
            return (await probe_counts(consumer_db, "billing.outage"))[0] >= 300

        await wait_until(some_applied, within_s=60, what="the stream to start")
        await proxy.cut()  # a dropped connection
        await asyncio.sleep(0.5)
        await proxy.cut(refuse_for_s=2.0)  # and a broker that is away for two seconds
        await writer

        async def all_applied() -> bool:
            return (await probe_counts(consumer_db, "billing.outage"))[0] >= 3_000

        await wait_until(all_applied, within_s=120, what="all 3,000 events after the outage")
        assert await probe_counts(consumer_db, "billing.outage") == (3_000, 1)
        assert await unpublished(producer_db, "identity") == 0
        assert proxy.connections_cut >= 2
    finally:
        for worker in reversed(workers):
            await worker.stop()
        workers.clear()
        await proxy.stop()
