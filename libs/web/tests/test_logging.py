import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from lib_messaging.context import correlation_scope
from lib_web import configure_logging

from .demo_service import DemoSettings


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Give the loggers back as they were, so later tests do not write into a dead stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog_config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**structlog_config)


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(DemoSettings(log_json=True, log_level="INFO"), stream=stream)
    return stream


async def test_request_logs_are_json_with_correlation_id(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/api/v1/items/i-1", headers={"X-Request-ID": "log-test-1"})
    assert response.status_code == 200

    lines = [line for line in json_lines(log_stream) if line.get("correlation_id") == "log-test-1"]
    route_line = next(line for line in lines if line["event"] == "item read")
    assert route_line["item_id"] == "i-1"
    assert route_line["service"] == "demo"
    assert route_line["level"] == "info"
    access_line = next(line for line in lines if line["event"] == "request")
    assert access_line["method"] == "GET"
    assert access_line["path"] == "/api/v1/items/i-1"
    assert access_line["status"] == 200
    assert isinstance(access_line["duration_ms"], float)


async def test_unhandled_error_is_logged_with_traceback(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    await client.get("/api/v1/boom", headers={"X-Request-ID": "log-test-2"})
    error_line = next(line for line in json_lines(log_stream) if line["event"] == "unhandled error")
    assert error_line["correlation_id"] == "log-test-2"
    assert error_line["level"] == "error"
    (exception,) = error_line["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["frames"]
    assert all("locals" not in frame for frame in exception["frames"])


def test_stdlib_logging_goes_through_the_same_pipeline(log_stream: io.StringIO) -> None:
    with correlation_scope("std-1"):
        logging.getLogger("uvicorn.error").info(
            "server started on %s", "port 1", extra={"color_message": "\x1b[1mport 1\x1b[0m"}
        )
    # Only this logger's lines: threads left by earlier tests (servers, sinks) may log too.
    (line,) = [line for line in json_lines(log_stream) if line.get("logger") == "uvicorn.error"]
    assert line["event"] == "server started on port 1"
    assert line["correlation_id"] == "std-1"
    assert "color_message" not in line
    assert line["service"] == "demo"


def test_configuring_twice_installs_one_handler_and_respects_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(DemoSettings(log_level="INFO"), stream=first)
    configure_logging(DemoSettings(log_level="WARNING"), stream=second)
    log = structlog.stdlib.get_logger("twice")
    log.info("dropped")
    log.warning("kept")
    assert first.getvalue() == ""
    assert [line["event"] for line in json_lines(second)] == ["kept"]


def test_console_rendering_when_json_is_off() -> None:
    stream = io.StringIO()
    configure_logging(DemoSettings(log_json=False), stream=stream)
    structlog.stdlib.get_logger("console").info("hello", answer=42)
    output = stream.getvalue()
    assert "hello" in output
    assert "answer" in output
    assert not output.lstrip().startswith("{")


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(DemoSettings(log_level="LOUD"), stream=io.StringIO())
