"""The billing HTTP service: `create_app(settings)` and the `billing-api` command."""

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from billing.api import ROUTERS
from billing.config import BillingSettings
from billing.events import SUBSCRIPTIONS
from billing.stripe_gateway import make_stripe_client
from lib_auth import JwtVerifier
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: BillingSettings) -> FastAPI:
    app = create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)
    # Access tokens are verified locally against identity's JWKS (cached), never per call.
    verifier = JwtVerifier(
        f"{settings.identity_url.rstrip('/')}/.well-known/jwks.json",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    app.state.jwt_verifier = verifier
    app.state.stripe_client = make_stripe_client(settings)
    platform_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with platform_lifespan(app):
            try:
                yield
            finally:
                await app.state.jwt_verifier.aclose()

    app.router.lifespan_context = lifespan
    return app


def run() -> None:
    run_service(create_app, BillingSettings())


if __name__ == "__main__":
    run()
