"""The booking HTTP service: `create_app(settings)` and the `booking-api` command."""

from fastapi import FastAPI

from booking.api import ROUTERS
from booking.config import BookingSettings
from booking.events import SUBSCRIPTIONS
from lib_runtime.app import create_platform_app
from lib_web import run_service


def create_app(settings: BookingSettings) -> FastAPI:
    return create_platform_app(settings, routers=ROUTERS, subscriptions=SUBSCRIPTIONS)


def run() -> None:
    run_service(create_app, BookingSettings())


if __name__ == "__main__":
    run()
