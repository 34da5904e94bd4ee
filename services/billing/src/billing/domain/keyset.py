"""Newest-first lists in pages: opaque cursors ordered by (created_at, id), the last row shown."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lib_web.problems import BadRequestError


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor points after; 400 if it was not made by encode_cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise BadRequestError("The cursor is not valid.") from None


async def newest_first_page(
    session: AsyncSession, statement: Any, model: Any, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `statement`'s `model` rows (a table with `created_at` and `id`), newest
    first, after `cursor`; and the cursor of the next page (None on the last)."""
    created_at, row_id = col(model.created_at), col(model.id)
    statement = statement.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
    if cursor is not None:
        statement = statement.where(tuple_(created_at, row_id) < decode_cursor(cursor))
    rows = list((await session.execute(statement)).scalars())
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return page, next_cursor
