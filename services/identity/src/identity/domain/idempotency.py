"""Idempotency-Key handling of POSTs that create a credential.

A repeated request (same key, same body) is answered with what the first one made; the secret
is not in that answer, since it was shown once and only its hash is kept. The same key with
another body is refused (422), as the IETF Idempotency-Key draft recommends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib_web.problems import ProblemError

IDEMPOTENCY_KEY_MAX_LENGTH = 255

IssuedRow = TypeVar("IssuedRow")


@dataclass(frozen=True)  # no slots: a slotted generic dataclass breaks Generic's super() call
class Issued(Generic[IssuedRow]):
    """The credential a create or rotate made; `secret` is None when the request was a replay."""

    key: IssuedRow
    secret: str | None

    @property
    def replayed(self) -> bool:
        return self.secret is None


class IdempotencyKeyReusedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "Unprocessable Content",
            "This Idempotency-Key was already used for a different request.",
        )


def request_fingerprint(operation: str, body: dict[str, Any]) -> str:
    """A hash of what the request asks for, independent of field order."""
    canonical = json.dumps({"op": operation, **body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Replayable(Protocol):
    idempotency_key: str | None
    request_fingerprint: str | None


ReplayableT = TypeVar("ReplayableT", bound=_Replayable)


async def earlier_request(
    db: AsyncSession,
    model: type[ReplayableT],
    owned_by: ColumnElement[bool],
    idempotency_key: str | None,
    fingerprint: str,
) -> ReplayableT | None:
    """The `model` row an earlier request with this Idempotency-Key made among the rows
    `owned_by` selects, if any; 422 if that request asked for something else."""
    if idempotency_key is None:
        return None
    found = await db.execute(
        select(model).where(owned_by, col(model.idempotency_key) == idempotency_key)
    )
    earlier: ReplayableT | None = found.scalar_one_or_none()
    if earlier is not None and earlier.request_fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    return earlier
