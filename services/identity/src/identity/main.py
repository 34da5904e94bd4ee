"""The identity HTTP service: `create_app(settings)` and the `identity-api` command."""

from fastapi import FastAPI

from identity.api import ROUTERS
from identity.config import IdentitySettings
from identity.events import SUBSCRIPTIONS
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: IdentitySettings) -> FastAPI:
    return create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)


def run() -> None:
    run_service(create_app, IdentitySettings())


if __name__ == "__main__":
    run()
