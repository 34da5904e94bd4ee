"""The billing HTTP service: `create_app(settings)` and the `billing-api` command."""

from fastapi import FastAPI

from billing.api import ROUTERS
from billing.config import BillingSettings
from billing.events import SUBSCRIPTIONS
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: BillingSettings) -> FastAPI:
    return create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)


def run() -> None:
    run_service(create_app, BillingSettings())


if __name__ == "__main__":
    run()
