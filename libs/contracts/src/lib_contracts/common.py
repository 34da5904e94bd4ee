"""Field types shared by the contracts of every context (DESIGN.md: JSON conventions).

IDs are opaque non-empty strings; money is integer cents with a 3-letter lowercase ISO-4217
currency; times are timezone-aware and normalised to UTC; token amounts are non-negative.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Id = Annotated[str, Field(min_length=1)]
"""Opaque identifier (cuid or UUID), never empty."""

Cents = Annotated[int, Field(ge=0)]
"""A non-negative amount of money in the currency's minor unit."""

Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$")]
"""ISO-4217 code in lowercase, as Stripe writes it: `eur`, `usd`, `gbp`."""

Tokens = Annotated[int, Field(ge=0)]
"""A non-negative number of platform tokens (seed 004's token economy)."""

Revision = Annotated[int, Field(ge=1)]
"""Per-aggregate counter the producer increments on every state change (starts at 1)."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant; naive datetimes are refused, aware ones converted to UTC."""

SubscriptionTier = Literal["FREE", "BASIC", "STANDARD", "PREMIUM", "STARTER", "PRO", "ENTERPRISE"]
"""The union of the seeds' plan tiers (DESIGN.md: one table, one meaning).

`FREE`/`BASIC`/`STANDARD`/`PREMIUM` are seed 004's `SubscriptionTier` (token plans);
`STARTER`/`PRO`/`ENTERPRISE` are seed 000's API subscription tiers. Seed 001's lowercase
key/trial tiers (`free`, `standard`, `enterprise`) map onto the uppercase values. API key
tiers (identity) follow the subscription's tier, so both contexts use this vocabulary.
"""
