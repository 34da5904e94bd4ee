"""The HTTP app of a service: the lib_web app plus its database and broker, opened at start-up.

The lifespan creates the engine and the broker connection (never at import), registers them as
readiness checks, and keeps the outbox and dead-letter gauges fresh for /metrics. The broker is
connected in the background: the API serves (and /readyz says 503) while RabbitMQ is away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog
from aio_pika.abc import AbstractRobustConnection
from fastapi import APIRouter, FastAPI

from lib_auth import ApiKeyClient
from lib_contracts.api_usage import ApiUsageBatch
from lib_database import Database
from lib_messaging import metrics
from lib_messaging.broker import connect_broker, ping_broker
from lib_messaging.consumer import Subscription
from lib_messaging.relay import refresh_outbox_gauges
from lib_messaging.replay import dead_letter_depth
from lib_messaging.worker import queue_topology
from lib_runtime.api_key_revocations import ApiKeyRevocationListener
from lib_runtime.api_usage import ApiUsageMiddleware, ApiUsageRecorder
from lib_runtime.worker_cli import uow_factory
from lib_settings import ServiceSettings
from lib_web import create_service_app, register_metrics_refresher, register_readiness_check
from lib_web.app import Lifespan

log = structlog.get_logger(__name__)


class BrokerLink:
    """The API process's broker connection, established in the background."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self.connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="broker-connect")

    async def _connect(self) -> None:
        while self.connection is None:
            try:
                self.connection = await connect_broker(
                    self._settings.amqp_url.get_secret_value(),
                    name=f"{self._settings.service_name}-api",
                )
            except Exception as exc:  # keep trying; readiness reports it meanwhile
                log.warning("broker.connect_failed", error=repr(exc))
                await asyncio.sleep(2)

    async def ping(self) -> None:
        if self.connection is None:
            raise ConnectionError("not connected to the broker yet")
        await ping_broker(self.connection)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.connection is not None:
            await self.connection.close()


def create_platform_app(
    settings: ServiceSettings,
    *,
    routers: Sequence[APIRouter] = (),
    subscriptions: Sequence[Subscription] = (),
    api_key_client: ApiKeyClient | None = None,
    api_usage_event: type[ApiUsageBatch] | None = None,
    resources: Lifespan | None = None,
) -> FastAPI:
    """The service's app. With `api_key_client`, routes can use lib_auth's `ApiKeyPrincipal`
    and revoked keys leave its cache as `identity.apikey.revoked` arrives; with
    `api_usage_event` (the service's `<context>.api_usage.recorded`), every call an API key
    authorised is reported to identity in batches through the outbox. `resources` is the
    service's own lifespan, entered once the database and broker are set up (and left before
    they close)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings)
        broker = BrokerLink(settings)
        broker.start()
        app.state.database = database
        app.state.broker = broker
        revocations: ApiKeyRevocationListener | None = None
        if api_key_client is not None:
            app.state.api_key_client = api_key_client
            revocations = ApiKeyRevocationListener.from_settings(settings, api_key_client)
            revocations.start()
            app.state.api_key_revocations = revocations
        recorder: ApiUsageRecorder | None = None
        if api_usage_event is not None:
            recorder = ApiUsageRecorder(uow_factory(database, settings), api_usage_event)
            recorder.start()
            app.state.api_usage_recorder = recorder
        register_readiness_check(app, "database", database.ping)
        register_readiness_check(app, "broker", broker.ping)

        async def refresh_outbox() -> None:
            await refresh_outbox_gauges(database.engine, settings.db_schema)

        async def refresh_dead_letters() -> None:
            if broker.connection is None:
                return
            for subscription in subscriptions:
                names = queue_topology(settings, subscription).names
                depth = await dead_letter_depth(broker.connection, names)
                metrics.DEAD_LETTER_DEPTH.labels(queue=names.main).set(depth)

        register_metrics_refresher(app, refresh_outbox)
        register_metrics_refresher(app, refresh_dead_letters)
        try:
            if resources is None:
                yield
            else:
                async with resources(app):
                    yield
        finally:
            if recorder is not None:
                await recorder.stop()
            if revocations is not None:
                await revocations.stop()
            if api_key_client is not None:
                await api_key_client.aclose()
            await broker.close()
            await database.dispose()

    app = create_service_app(settings, routers=routers, lifespan=lifespan)
    if api_usage_event is not None:
        app.add_middleware(ApiUsageMiddleware)
    return app
