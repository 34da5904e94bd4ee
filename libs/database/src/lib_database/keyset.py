"""Newest-first lists in pages: opaque cursors ordered by (created_at, id), the last row shown.

The web layer answers `InvalidCursorError` with a 400 problem (lib_web.problems), so a use case
can decode a client's cursor without knowing about HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col


class InvalidCursorError(ValueError):
    """A cursor that `encode_cursor` did not make."""

    def __init__(self) -> None:
        super().__init__("The cursor is not valid.")


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) a cursor points after; InvalidCursorError if encode_cursor did not
    make it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidCursorError from None


class _Keyed(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> str: ...


KeyedT = TypeVar("KeyedT", bound=_Keyed)
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def newest_first(
    query: SelectT, created_at: Any, row_id: Any, *, limit: int, cursor: str | None
) -> SelectT:
    """`query` ordered newest first by (created_at, id), after the cursor's row, one row more
    than a page so `page_of` can tell whether another page follows."""
    query = query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
    if cursor is not None:
        after_created_at, after_id = decode_cursor(cursor)
        query = query.where(tuple_(created_at, row_id) < tuple_(after_created_at, after_id))
    return query


def page_of(found: Sequence[KeyedT], limit: int) -> tuple[list[KeyedT], str | None]:
    """The page of rows a `newest_first` query found, and the cursor of the next (or None)."""
    page = list(found[:limit])
    more = len(found) > limit
    return page, encode_cursor(page[-1].created_at, page[-1].id) if more else None


async def newest_first_page(
    session: AsyncSession, statement: Any, model: Any, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `statement`'s `model` rows (a table with `created_at` and `id`), newest
    first, after `cursor`; and the cursor of the next page (None on the last)."""
    query = newest_first(
        statement, col(model.created_at), col(model.id), limit=limit, cursor=cursor
    )
    rows = list((await session.execute(query)).scalars())
    return page_of(rows, limit)
