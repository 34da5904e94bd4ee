"""Events produced by the `content` context: generation jobs and their token reservations."""

from __future__ import annotations

from typing import Literal

from lib_messaging.envelope import EventPayload, event_contract

from .api_usage import ApiUsageBatch
from .common import Id, Tokens, UtcDatetime

GenerationKind = Literal["generation", "image_enhancement", "mcp_generation"]
"""Which content table the job lives in: seed 003's `generations`, seed 004's
`image_enhancement_jobs` or `mcp_generation_jobs`."""


@event_contract("content.generation.completed", 1)
class GenerationCompleted(EventPayload):
    """Content emits this when a generation job finishes successfully.

    Billing commits the token reservation `reservation_id` (`tokens_reserved` tokens) to the
    user's ledger, once per reservation.
    """

    generation_id: Id
    kind: GenerationKind
    user_id: Id
    reservation_id: Id
    tokens_reserved: Tokens
    completed_at: UtcDatetime


@event_contract("content.generation.failed", 1)
class GenerationFailed(EventPayload):
    """Content emits this when a generation job fails for good (no more retries).

    Billing releases the token reservation `reservation_id` (`tokens_reserved` tokens) back
    to the user's balance, once per reservation.
    """

    generation_id: Id
    kind: GenerationKind
    user_id: Id
    reservation_id: Id
    tokens_reserved: Tokens
    error_code: str | None = None
    error_message: str | None = None
    failed_at: UtcDatetime


@event_contract("content.api_usage.recorded", 1)
class ContentApiUsageRecorded(ApiUsageBatch):
    """Content emits this with the calls it served with API keys, in batches.

    Identity stores each call once (by `call_id`) for the keys' usage statistics and
    `last_used_at`.
    """
