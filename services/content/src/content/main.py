"""The content HTTP service: `create_app(settings)` and the `content-api` command."""

from fastapi import FastAPI

from content.api import ROUTERS
from content.config import ContentSettings
from content.events import SUBSCRIPTIONS
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: ContentSettings) -> FastAPI:
    return create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)


def run() -> None:
    run_service(create_app, ContentSettings())


if __name__ == "__main__":
    run()
