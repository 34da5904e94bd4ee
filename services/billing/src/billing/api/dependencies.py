"""Dependencies of billing's routes: the caller, the Stripe gateway, the idempotency key."""

from __future__ import annotations

from typing import Annotated

import stripe
from fastapi import Depends, Header, Query, Request

from billing.stripe_gateway import StripeGateway
from lib_auth import CurrentPrincipal
from lib_database import Database
from lib_runtime.dependencies import get_database


def get_stripe_gateway(
    request: Request, database: Annotated[Database, Depends(get_database)]
) -> StripeGateway:
    client: stripe.StripeClient = request.app.state.stripe_client
    return StripeGateway(client, database)


def get_user_id(principal: CurrentPrincipal) -> str:
    """The signed-in user (verified locally against identity's JWKS; no call per request)."""
    return principal.user_id


StripeDep = Annotated[StripeGateway, Depends(get_stripe_gateway)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CurrentUserId = Annotated[str, Depends(get_user_id)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="repeat a request safely: the same key gets the first request's answer",
    ),
]
# A page of a list: how many rows, and the cursor the previous page ended with.
PageLimit = Annotated[int, Query(ge=1, le=100, description="rows per page")]
PageCursor = Annotated[
    str | None, Query(max_length=512, description="`nextCursor` of the previous page")
]
