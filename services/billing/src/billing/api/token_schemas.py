"""Request and response bodies of the token routes: balance, ledger, quota, vouchers,
reservations and admin adjustments (camelCase JSON; requests forbid unknown fields, so
`balance`, `tier` or `userId` in a user's body is a 422 and changes nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from billing.api.schemas import OpaqueId, RequestBody, ResponseBody
from billing.models import VoucherStatus, VoucherType

PositiveTokens = Annotated[int, Field(gt=0, le=1_000_000_000)]


class BalanceResponse(ResponseBody):
    balance: int = Field(description="all tokens, held ones included")
    reserved: int = Field(description="tokens held for running jobs")
    available: int = Field(description="tokens that can be spent now")
    tier: str
    last_regeneration: datetime
    updated_at: datetime


class TransactionResponse(ResponseBody):
    id: str
    amount: int
    type: str
    source: str | None
    source_id: str | None
    balance_after: int
    metadata: dict[str, Any] | None = Field(validation_alias="metadata_")
    created_at: datetime


class QuotaResponse(ResponseBody):
    tier: str
    used: int
    limit: int
    remaining: int
    resets_at: datetime


class RedeemVoucherRequest(RequestBody):
    code: str = Field(min_length=1, max_length=64)


class RedemptionResponse(ResponseBody):
    voucher_id: str
    code: str
    tokens_granted: int
    balance_after: int
    transaction_id: str


class CreateVoucherRequest(RequestBody):
    code: str | None = Field(
        default=None,
        min_length=4,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="left out: a random code is made",
    )
    type: VoucherType = VoucherType.FIXED_TOKENS
    value: PositiveTokens
    max_uses: int | None = Field(default=None, gt=0)
    expires_at: datetime | None = None
    status: VoucherStatus = VoucherStatus.ACTIVE
    metadata: dict[str, Any] | None = None


class VoucherResponse(ResponseBody):
    id: str
    code: str
    type: str
    value: int
    max_uses: int | None
    current_uses: int
    expires_at: datetime | None
    status: str
    created_at: datetime


class AdjustTokensRequest(RequestBody):
    user_id: OpaqueId
    amount: Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)] = Field(
        description="tokens to add (negative: to take away); never 0"
    )
    reason: str = Field(min_length=3, max_length=500)


class ReserveTokensRequest(RequestBody):
    job_id: OpaqueId = Field(description="the job the tokens are for (content's generation id)")
    user_id: OpaqueId
    amount: PositiveTokens
    source: str | None = Field(default=None, max_length=100, description="what the job is")


class ReservationResponse(ResponseBody):
    id: str
    job_id: str
    user_id: str
    amount: int
    status: str
    expires_at: datetime
    created_at: datetime


class TokensPackageResponse(ResponseBody):
    id: str
    name: str
    tokens: int
    price_cents: int
    currency: str


class PurchaseTokensRequest(RequestBody):
    """The price and the tokens come from the package, never from the body."""

    package_id: OpaqueId
    payment_method_id: OpaqueId | None = Field(
        default=None,
        description="pay now with one of your saved payment methods (its id) or a new Stripe "
        "PaymentMethod (`pm_...`); left out, the client confirms with `clientSecret`",
    )


class PurchaseStartedResponse(ResponseBody):
    payment_id: str
    client_secret: str | None = Field(description="for Stripe.js to confirm the payment")
    status: str = Field(
        description="PENDING until Stripe's payment_intent.succeeded credits the tokens "
        "(SUCCEEDED); FAILED if the card was declined"
    )
    package_id: str
    tokens: int
    amount_cents: int
    currency: str
    failure_code: str | None


class PurchaseResponse(ResponseBody):
    id: str
    package_id: str
    tokens: int = Field(validation_alias="tokens_granted")
    amount_cents: int
    currency: str
    status: str
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    updated_at: datetime
