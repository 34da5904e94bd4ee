"""Billing's service tests: the real app served over HTTP (localstripe delivers its webhooks
to it), the real worker on the real broker, and localstripe as Stripe."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from sqlalchemy import text
from starlette.types import ASGIApp

from billing.config import BillingSettings
from billing.events import build_subscriptions
from billing.main import create_app
from billing.stripe_gateway import StripeGateway, make_stripe_client
from booking.config import BookingSettings
from identity.config import IdentitySettings
from lib_contracts.billing import (
    PaymentFailed,
    PaymentSucceeded,
    SubscriptionUpdated,
    TokensPurchased,
    TokensPurchaseFailed,
)
from lib_contracts.booking import BookingStatusChanged, ExtensionApproved
from lib_contracts.identity import UserDeleted, UserRegistered
from lib_database import Database, UnitOfWork
from lib_messaging.consumer import Subscription
from lib_messaging.envelope import Envelope
from lib_messaging.worker import EventWorker
from lib_testing.servers import LocalStripe

from .helpers import (
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    bearer,
    local_jwt_verifier,
    new_user_id,
    wait_until,
)


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a port the OS picks) and yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(autouse=True)
def _schemas(migrate_service: Callable[[str], None]) -> None:
    migrate_service("identity")
    migrate_service("booking")
    migrate_service("billing")


@dataclass
class Billing:
    """One test's billing: its HTTP client, Stripe, database, and what it announced."""

    http: httpx.AsyncClient
    url: str
    settings: BillingSettings
    stripe: stripe.StripeClient
    database: Database
    identity_database: Database
    booking_database: Database
    announced: list[SubscriptionUpdated] = field(default_factory=list)
    payments: list[PaymentSucceeded | PaymentFailed] = field(default_factory=list)
    token_purchases: list[TokensPurchased | TokensPurchaseFailed] = field(default_factory=list)

    def gateway(self) -> StripeGateway:
        return StripeGateway(self.stripe, self.database)

    def unreachable_gateway(self, port: int) -> StripeGateway:
        """A gateway to a Stripe that is down (nothing listens on `port`), failing fast."""
        settings = {
            **self.settings.model_dump(),
            "stripe_api_base": f"http://127.0.0.1:{port}",
            "stripe_max_network_retries": 0,
            "stripe_timeout_s": 2,
        }
        return StripeGateway(make_stripe_client(BillingSettings(**settings)), self.database)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database, source="billing")

    def updates_for(self, user_id: str) -> list[SubscriptionUpdated]:
        return sorted((u for u in self.announced if u.user_id == user_id), key=lambda u: u.revision)

    async def wait_for_revision(self, user_id: str, revision: int) -> SubscriptionUpdated:
        async def arrived() -> bool:
            return any(u.revision == revision for u in self.updates_for(user_id))

        await wait_until(arrived, what=f"billing.subscription.updated revision {revision}")
        return next(u for u in self.updates_for(user_id) if u.revision == revision)

    async def publish_identity_event(self, payload: UserRegistered | UserDeleted) -> Envelope:
        """What identity does: the event goes to identity's outbox; its relay publishes it."""
        async with UnitOfWork(self.identity_database, source="identity") as uow:
            envelope = uow.emit(payload, subject=payload.user_id)
            await uow.commit()
        return envelope

    async def wait_until_handled(self, envelope: Envelope, consumer: str) -> None:
        async def handled() -> bool:
            found = await self.scalar(
                "SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e",
                c=consumer,
                e=envelope.id,
            )
            return bool(found == 1)

        await wait_until(handled, what=f"{envelope.type} handled by {consumer}")

    async def publish_booking_event(
        self, payload: BookingStatusChanged | ExtensionApproved
    ) -> Envelope:
        async with UnitOfWork(self.booking_database, source="booking") as uow:
            envelope = uow.emit(payload, subject=payload.booking_id)
            await uow.commit()
        return envelope

    async def wait_for_payment_event(
        self, *, booking_id: str | None = None, extension_id: str | None = None
    ) -> PaymentSucceeded | PaymentFailed:
        def matching() -> list[PaymentSucceeded | PaymentFailed]:
            return [
                p
                for p in self.payments
                if (booking_id is not None and p.booking_id == booking_id)
                or (extension_id is not None and p.extension_id == extension_id)
            ]

        async def arrived() -> bool:
            return bool(matching())

        await wait_until(arrived, what="billing.payment.succeeded / .failed")
        return matching()[0]

    async def register_user(self, email: str | None = None) -> str:
        """A user registered at identity, once billing has given them the free plan."""
        user_id = new_user_id()
        await self.publish_identity_event(
            UserRegistered(
                user_id=user_id,
                email=email or f"{user_id[:8]}@example.com",
                name="Ada",
                registered_at=_now(),
            )
        )

        async def has_subscription() -> bool:
            response = await self.http.get("/api/v1/subscription", headers=bearer(user_id))
            return response.status_code == 200

        await wait_until(has_subscription, what="the free plan of a new user")
        return user_id

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.database.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def execute(self, sql: str, **params: Any) -> None:
        async with self.database.engine.begin() as conn:
            await conn.execute(text(sql), params)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@pytest.fixture
async def billing(
    service_settings: Callable[..., Any], stripe_api: LocalStripe
) -> AsyncIterator[Billing]:
    settings: BillingSettings = service_settings(
        BillingSettings,
        stripe_api_base=stripe_api.url,
        stripe_webhook_secrets=f"{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}",
        stripe_max_network_retries=0,
    )
    identity_settings: IdentitySettings = service_settings(IdentitySettings)
    booking_settings: BookingSettings = service_settings(BookingSettings)
    stripe_client = make_stripe_client(settings)
    database = Database.from_settings(settings)
    identity_database = Database.from_settings(identity_settings)
    booking_database = Database.from_settings(booking_settings)
    app = create_app(settings)
    announced: list[SubscriptionUpdated] = []

    async def observe(payload: SubscriptionUpdated, envelope: Envelope, uow: UnitOfWork) -> None:
        announced.append(payload)

    payments: list[PaymentSucceeded | PaymentFailed] = []
    token_purchases: list[TokensPurchased | TokensPurchaseFailed] = []

    async def observe_token_purchase(
        payload: TokensPurchased | TokensPurchaseFailed, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        token_purchases.append(payload)

    async def observe_payment(
        payload: PaymentSucceeded | PaymentFailed, envelope: Envelope, uow: UnitOfWork
    ) -> None:
        payments.append(payload)

    observer = Subscription.of(
        "test-observer",
        {
            SubscriptionUpdated: observe,
            PaymentSucceeded: observe_payment,
            PaymentFailed: observe_payment,
            TokensPurchased: observe_token_purchase,
            TokensPurchaseFailed: observe_token_purchase,
        },
    )
    billing_worker = EventWorker(
        settings,
        database.engine,
        [*build_subscriptions(lambda: stripe_client), observer],
        lambda: UnitOfWork(database, source="billing"),
    )
    identity_relay = EventWorker(
        identity_settings,
        identity_database.engine,
        [],
        lambda: UnitOfWork(identity_database, source="identity"),
    )
    booking_relay = EventWorker(
        booking_settings,
        booking_database.engine,
        [],
        lambda: UnitOfWork(booking_database, source="booking"),
    )
    async with (
        local_jwt_verifier() as verifier,
        app.router.lifespan_context(app),
        serve(app) as url,
    ):
        app.state.jwt_verifier = verifier
        stripe_api.register_webhook("billing", f"{url}/api/v1/webhooks/stripe", WEBHOOK_SECRET)
        await billing_worker.start()
        await identity_relay.start()
        await booking_relay.start()
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield Billing(
                    http=http,
                    url=url,
                    settings=settings,
                    stripe=stripe_client,
                    database=database,
                    identity_database=identity_database,
                    booking_database=booking_database,
                    announced=announced,
                    payments=payments,
                    token_purchases=token_purchases,
                )
        finally:
            await booking_relay.stop()
            await identity_relay.stop()
            await billing_worker.stop()
            await database.dispose()
            await identity_database.dispose()
            await booking_database.dispose()


@pytest.fixture
def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
