"""RFC 9457 problem details: the one error format every service answers with.

Services raise `ProblemError` (or a subclass) for domain errors; HTTP errors, validation errors
and unhandled exceptions are turned into the same `application/problem+json` shape. The body
always carries `instance` (the request path) and `requestId`, so a client report can be matched
to the logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib_database.keyset import InvalidCursorError
from lib_messaging.context import correlation_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = structlog.stdlib.get_logger(__name__)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def status_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    title: str | None = None,
    *,
    detail: str | None = None,
    type_: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    """A problem+json response; `extensions` become extra members of the body."""
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title or status_title(status),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    request_id = correlation_id_var.get()
    if request_id is not None:
        body["requestId"] = request_id
    body.update(jsonable_encoder(extensions))
    return ProblemResponse(body, status_code=status, headers=dict(headers) if headers else None)


class ProblemError(Exception):
    """A domain error that the web layer answers with a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        type_: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type_ = type_
        self.headers = dict(headers) if headers else None
        self.extensions = extensions


class BadRequestError(ProblemError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str = "Bad Request",
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(400, title, detail, type_, **extensions)


class ForbiddenError(ProblemError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str = "Forbidden",
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(403, title, detail, type_, **extensions)


class NotFoundError(ProblemError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str = "Not Found",
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(404, title, detail, type_, **extensions)


class ConflictError(ProblemError):
    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str = "Conflict",
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(409, title, detail, type_, **extensions)


async def _problem_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.title,
        detail=exc.detail,
        type_=exc.type_,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    extensions: dict[str, Any] = {}
    detail: str | None
    if isinstance(exc.detail, str):
        detail = exc.detail
    else:
        # FastAPI lets `detail` be any JSON value; problem details want a string there.
        detail = None
        extensions["errors"] = exc.detail
    return problem_response(
        exc.status_code,
        detail=detail,
        instance=request.url.path,
        headers=exc.headers,
        **extensions,
    )


async def _validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only location, message and type: the rejected `input` may hold a password or a token.
    errors = [
        {
            "location": list(error.get("loc", ())),
            "message": error.get("msg"),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    return problem_response(
        422,
        "Unprocessable Content",
        detail="The request is not valid.",
        instance=request.url.path,
        errors=errors,
    )


async def _invalid_cursor_handler(request: Request, exc: Exception) -> Response:
    # A page cursor the client made up or mangled: its mistake, like any bad query value.
    return problem_response(400, "Bad Request", detail=str(exc), instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Answer HTTP, validation and domain errors with problem+json."""
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(InvalidCursorError, _invalid_cursor_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)


class UnhandledErrorMiddleware:
    """Turns an exception nothing else handled into a bare 500 problem, logged with traceback.

    It sits inside the request-id, access-log and metrics middleware (unlike Starlette's
    outermost ServerErrorMiddleware), so the 500 is counted, logged and carries the request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error", method=scope["method"], path=scope["path"])
            if response_started:
                # Too late for a clean answer: let the server abort the connection.
                raise
            response = problem_response(
                500,
                detail="An unexpected error occurred.",
                instance=scope["path"],
            )
            await response(scope, receive, send)
