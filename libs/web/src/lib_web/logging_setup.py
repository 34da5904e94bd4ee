"""Structured logging: structlog for our code, with stdlib logging (uvicorn's too) routed
through the same processors, so every line has one shape (JSON in production) and carries the
service name and the correlation id of the work in progress."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.types import EventDict, Processor, WrappedLogger

from lib_settings import ServiceSettings

# Marks the root handler we installed, so a second call replaces it instead of adding another.
_HANDLER_NAME = "lib_web"

# Loggers that install their own handlers; ours on the root logger must be the only output.
_DELEGATING_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def _service_name_adder(service_name: str) -> Processor:
    def add_service_name(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service_name)
        return event_dict

    return add_service_name


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn passes a colourised copy of its message as an `extra`; it is noise in a log line.
    event_dict.pop("color_message", None)
    return event_dict


def _log_level(name: str) -> int:
    level = logging.getLevelNamesMapping().get(name.upper())
    if level is None:
        raise ValueError(f"unknown log level {name!r}")
    return level


def configure_logging(settings: ServiceSettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging for this process. Safe to call again."""
    level = _log_level(settings.log_level)
    shared_processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        _service_name_adder(settings.service_name),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: loggers made at import time must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )

    final_processors: list[Processor]
    if settings.log_json:
        final_processors = [
            # Structured tracebacks without local variables: those may hold secrets.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(),
        ]
    else:
        final_processors = [structlog.dev.ConsoleRenderer()]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final_processors],
    )

    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

    for name in _DELEGATING_LOGGERS:
        delegating = logging.getLogger(name)
        delegating.handlers.clear()
        delegating.propagate = True
