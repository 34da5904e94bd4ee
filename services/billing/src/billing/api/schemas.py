"""Request and response bodies of billing's routes (camelCase JSON; never a table model).

Requests forbid unknown fields, so `tier`, `status` or `balance` in a body is a 422 and
changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from billing.domain.subscriptions import SubscriptionView

T = TypeVar("T")

OpaqueId = Annotated[str, Field(min_length=1, max_length=255)]


class RequestBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")


class ResponseBody(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class Page(ResponseBody, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class PlanResponse(ResponseBody):
    id: str
    name: str
    tier: str
    tokens_per_month: int
    price_cents: int
    currency: str
    billing_interval: str
    max_rollover: int
    priority: bool
    api_access: bool
    daily_generations: int


class SubscriptionResponse(ResponseBody):
    id: str
    plan: PlanResponse
    tier: str
    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    downgrade_to: str | None
    tokens_per_month: int
    rollover_tokens: int
    max_rollover: int
    revision: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionResponse:
        s = view.subscription
        return cls(
            id=s.id,
            plan=PlanResponse.model_validate(view.plan),
            tier=s.tier,
            status=s.status,
            current_period_start=s.current_period_start,
            current_period_end=s.current_period_end,
            cancel_at_period_end=s.cancel_at_period_end,
            downgrade_to=s.downgrade_to,
            tokens_per_month=s.tokens_per_month,
            rollover_tokens=s.rollover_tokens,
            max_rollover=s.max_rollover,
            revision=s.revision,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ChangePlanRequest(RequestBody):
    plan_id: OpaqueId


class PaymentMethodResponse(ResponseBody):
    id: str
    type: str
    card_brand: str | None
    card_last4: str | None
    card_exp_month: int | None
    card_exp_year: int | None
    is_default: bool
    created_at: datetime


class AttachPaymentMethodRequest(RequestBody):
    payment_method_id: OpaqueId = Field(
        description="a Stripe PaymentMethod id (e.g. from Stripe.js, or `pm_card_visa` in tests)"
    )
    make_default: bool = False


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool


class AuthorizePaymentRequest(RequestBody):
    """Exactly one of `bookingId` and `extensionId`."""

    user_id: OpaqueId
    booking_id: OpaqueId | None = None
    extension_id: OpaqueId | None = None
    amount_cents: Annotated[int, Field(gt=0, le=100_000_000)]
    currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")]
    payment_method_id: OpaqueId | None = Field(
        default=None,
        description="confirm now with this Stripe PaymentMethod (else the client does)",
    )


class BookingPaymentResponse(ResponseBody):
    payment_id: str
    payment_intent_id: str | None
    client_secret: str | None
    status: str
    booking_id: str | None
    extension_id: str | None
    amount_cents: int
    currency: str
    failure_code: str | None
