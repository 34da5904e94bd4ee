"""Answers of POSTs that create or charge, given once per `Idempotency-Key` (see
domain/idempotency.py): a retry with the key gets the first answer, status code included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from billing.api.dependencies import DatabaseDep, IdempotencyKey
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


@dataclass(frozen=True, slots=True)
class OncePerKey:
    """A route's `Idempotency-Key` and the scope it is unique in: the route itself."""

    database: Database
    scope: str
    key: str | None

    async def respond(
        self,
        *,
        user_id: str,
        body: BaseModel | None,
        status_code: int,
        respond: Callable[[], Awaitable[BaseModel]],
    ) -> JSONResponse:
        return await respond_once(
            self.database,
            user_id=user_id,
            scope=self.scope,
            key=self.key,
            body=body,
            status_code=status_code,
            respond=respond,
        )


def get_once_per_key(
    request: Request, database: DatabaseDep, idempotency_key: IdempotencyKey = None
) -> OncePerKey:
    # The path template, not the URL: "POST /api/v1/payment-methods", whatever the ids in it.
    route_path: str = request.scope["route"].path
    return OncePerKey(database, f"{request.method} {route_path}", idempotency_key)


OncePerKeyDep = Annotated[OncePerKey, Depends(get_once_per_key)]
