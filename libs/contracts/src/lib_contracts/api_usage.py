"""The payload shared by the API usage events every API-key-serving context produces.

A service that serves calls made with an API key reports them to identity in batches; each
producing context registers its own event type (`<context>.api_usage.recorded`) on this base,
so the event's source is its type (DESIGN.md naming) while the consumer reads one shape.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lib_messaging.envelope import CamelModel, EventPayload

from .common import Id, UtcDatetime

MAX_CALLS_PER_BATCH = 1_000


class ApiCallRecord(CamelModel):
    """One call served with an API key (seed 001's ApiCall)."""

    call_id: Id = Field(description="unique per call: identity stores each call once")
    api_key_id: Id
    endpoint: Annotated[str, Field(min_length=1, max_length=512)]
    method: Annotated[str, Field(min_length=1, max_length=16)]
    status_code: Annotated[int, Field(ge=100, le=599)]
    latency_ms: Annotated[int, Field(ge=0)]
    called_at: UtcDatetime


class ApiUsageBatch(EventPayload):
    """Calls served with API keys, reported in a batch (not registered: see the subclasses).

    Identity stores each call in `api_calls` (once per `call_id`), keeps the keys'
    `last_used_at` and serves their usage statistics.
    """

    batch_id: Id
    calls: list[ApiCallRecord] = Field(min_length=1, max_length=MAX_CALLS_PER_BATCH)
