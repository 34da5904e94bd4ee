"""`Idempotency-Key` of POSTs that create or charge: the first request with a key runs, its
response is stored with a fingerprint of the request; a retry with the same key gets the
stored response, a different request with it is refused (422), and one arriving while the
first is still running is told to retry (409).

Each step commits on its own, so the key is claimed before the work starts. A claim left
behind by a crash is taken over once it is older than `STALE_CLAIM`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from billing.models import utc_now
from lib_database import Database
from lib_web.problems import ProblemError

KEY_LIFETIME = timedelta(hours=24)
STALE_CLAIM = timedelta(minutes=2)

StoredResponse = tuple[int, Any]


class IdempotencyKeyReusedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "Unprocessable Content",
            "This Idempotency-Key was used for a different request.",
        )


class RequestInProgressError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Conflict",
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )


def fingerprint(scope: str, body: Any) -> str:
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim(
    database: Database, user_id: str, scope: str, key: str, request_fingerprint: str
) -> StoredResponse | None:
    """Claim the key for this request; the stored response if it was answered already."""
    now = utc_now()
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM idempotency_keys WHERE user_id = :u AND scope = :s AND key = :k "
                "AND expires_at <= :now"
            ),
            {"u": user_id, "s": scope, "k": key, "now": now},
        )
        inserted = (
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (id, user_id, scope, key, request_fingerprint, "
                    "created_at, expires_at) VALUES (:id, :u, :s, :k, :f, :now, :expires) "
                    "ON CONFLICT (user_id, scope, key) DO NOTHING RETURNING id"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "u": user_id,
                    "s": scope,
                    "k": key,
                    "f": request_fingerprint,
                    "now": now,
                    "expires": now + KEY_LIFETIME,
                },
            )
        ).first()
        if inserted is not None:
            return None
        row = (
            await conn.execute(
                text(
                    "SELECT request_fingerprint, status_code, response_body, created_at "
                    "FROM idempotency_keys WHERE user_id = :u AND scope = :s AND key = :k "
                    "FOR UPDATE"
                ),
                {"u": user_id, "s": scope, "k": key},
            )
        ).one()
        stored_fingerprint, status_code, response_body, created_at = row
        if stored_fingerprint != request_fingerprint:
            raise IdempotencyKeyReusedError()
        if status_code is not None:
            return int(status_code), response_body
        if _stale(created_at, now):  # the first attempt died: this one takes over
            await conn.execute(
                text(
                    "UPDATE idempotency_keys SET created_at = :now WHERE user_id = :u "
                    "AND scope = :s AND key = :k"
                ),
                {"u": user_id, "s": scope, "k": key, "now": now},
            )
            return None
        raise RequestInProgressError()


def _stale(created_at: datetime, now: datetime) -> bool:
    return now - created_at > STALE_CLAIM


async def _release(database: Database, user_id: str, scope: str, key: str) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM idempotency_keys WHERE user_id = :u AND scope = :s AND key = :k "
                "AND status_code IS NULL"
            ),
            {"u": user_id, "s": scope, "k": key},
        )


async def _store(
    database: Database, user_id: str, scope: str, key: str, response: StoredResponse
) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE idempotency_keys SET status_code = :status, "
                "response_body = CAST(:body AS jsonb), completed_at = :now "
                "WHERE user_id = :u AND scope = :s AND key = :k"
            ),
            {
                "status": response[0],
                "body": json.dumps(response[1]),
                "now": utc_now(),
                "u": user_id,
                "s": scope,
                "k": key,
            },
        )


async def run_once(
    database: Database,
    *,
    user_id: str,
    scope: str,
    key: str | None,
    body: Any,
    action: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """Run `action` (returning status code and JSON body) once per idempotency key."""
    if key is None:
        return await action()
    request_fingerprint = fingerprint(scope, body)
    stored = await _claim(database, user_id, scope, key, request_fingerprint)
    if stored is not None:
        return stored
    try:
        response = await action()
    except BaseException:
        # A failed request changed nothing it answered for: the same key may try again.
        await _release(database, user_id, scope, key)
        raise
    await _store(database, user_id, scope, key, response)
    return response
