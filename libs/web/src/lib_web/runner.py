"""Running a service's HTTP app under uvicorn, for each service's `run()` console script."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from lib_settings import ServiceSettings
from lib_web.logging_setup import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def run_service(app_factory: Callable[[SettingsT], FastAPI], settings: SettingsT) -> None:
    """Configure logging, build the app and serve it on settings.http_host:http_port."""
    configure_logging(settings)
    app = app_factory(settings)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the logging configured above
        access_log=False,  # AccessLogMiddleware writes the access log
        server_header=False,
    )
