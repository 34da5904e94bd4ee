"""The market_data HTTP service: `create_app(settings)` and the `market_data-api` command."""

from fastapi import FastAPI

from lib_runtime.app import create_platform_app
from lib_web import run_service
from market_data.api import ROUTERS
from market_data.config import MarketDataSettings
from market_data.events import SUBSCRIPTIONS


def create_app(settings: MarketDataSettings) -> FastAPI:
    return create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)


def run() -> None:
    run_service(create_app, MarketDataSettings())


if __name__ == "__main__":
    run()
