"""The billing HTTP service: `create_app(settings)` and the `billing-api` command."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import stripe
from fastapi import FastAPI

from billing.api import ROUTERS
from billing.config import BillingSettings
from billing.domain.reservation_batcher import ReservationBatcher
from billing.events import SUBSCRIPTIONS
from billing.stripe_gateway import make_stripe_client
from lib_auth import JwtVerifier
from lib_runtime.app import create_platform_app
from lib_web import run_service


@contextlib.asynccontextmanager
async def reservation_batcher(app: FastAPI) -> AsyncIterator[None]:
    """The internal reservation route's batcher, on the app's database."""
    settings: BillingSettings = app.state.settings
    batcher = ReservationBatcher(
        app.state.database,
        daily_limits=settings.daily_generation_limits,
        hold_for=timedelta(seconds=settings.reservation_timeout_s),
        max_batch=settings.reservation_batch_size,
    )
    app.state.reservation_batcher = batcher
    try:
        yield
    finally:
        await batcher.aclose()


def create_app(settings: BillingSettings) -> FastAPI:
    app = create_platform_app(
        settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS, resources=reservation_batcher
    )
    # Access tokens are verified locally against identity's JWKS (cached), never per call.
    verifier = JwtVerifier(
        f"{settings.identity_url.rstrip('/')}/.well-known/jwks.json",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    app.state.jwt_verifier = verifier
    stripe_http = stripe.HTTPXClient(timeout=settings.stripe_timeout_s)
    app.state.stripe_client = make_stripe_client(settings, stripe_http)
    platform_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with platform_lifespan(app):
            try:
                yield
            finally:
                await app.state.jwt_verifier.aclose()
                await stripe_http.close_async()  # type: ignore[no-untyped-call]

    app.router.lifespan_context = lifespan
    return app


def run() -> None:
    run_service(create_app, BillingSettings())


if __name__ == "__main__":
    run()
