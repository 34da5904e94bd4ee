"""Answers of POSTs that create or charge, given once per `Idempotency-Key` (see
domain/idempotency.py): a retry with the key gets the first answer, status code included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from billing.domain import idempotency
from lib_database import Database


async def respond_once(
    database: Database,
    *,
    user_id: str,
    scope: str,
    key: str | None,
    body: BaseModel | None,
    status_code: int,
    respond: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    """Run `respond` (the use case, returning the response body) once per key of `user_id`
    on `scope` (the route); `body` is the request, which a reused key must repeat."""

    async def action() -> tuple[int, Any]:
        return status_code, (await respond()).model_dump(mode="json", by_alias=True)

    code, content = await idempotency.run_once(
        database,
        user_id=user_id,
        scope=scope,
        key=key,
        body=body.model_dump(mode="json") if body is not None else None,
        action=action,
    )
    return JSONResponse(content, status_code=code)
