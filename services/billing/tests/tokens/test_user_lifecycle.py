"""identity.user.registered opens the balance with the free plan's tokens (once, in the
existing registration consumer); identity.user.deleted erases it with the ledger."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from billing.events.handlers import BillingHandlers
from billing.models import utc_now
from billing.stripe_gateway import make_stripe_client
from lib_contracts.identity import UserDeleted, UserRegistered
from lib_messaging.envelope import Envelope
from lib_testing.servers import LocalStripe

from ..helpers import new_user_id
from .conftest import TokensApp
from .helpers import balance_row


async def test_registration_opens_the_free_balance_once_and_deletion_erases_it(
    tokens_app: TokensApp, stripe_api: LocalStripe
) -> None:
    client = make_stripe_client(
        tokens_app.settings.model_copy(update={"stripe_api_base": stripe_api.url})
    )
    handlers = BillingHandlers(lambda: client)
    user_id = new_user_id()
    registered = UserRegistered(
        user_id=user_id, email=f"{user_id[:8]}@example.com", name="Ada", registered_at=utc_now()
    )
    envelope = Envelope.wrap(
        registered, source="identity", subject=user_id, correlation_id=str(uuid.uuid4())
    )

    for _ in range(2):  # the same registration again (a replayed event) changes nothing
        async with tokens_app.uow() as uow:
            await handlers.on_user_registered(registered, envelope, uow)
            await uow.commit()

    assert await balance_row(tokens_app.database, user_id) == {
        "balance": 10,
        "reserved": 0,
        "plan_tokens": 10,
    }
    async with tokens_app.database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT type, amount FROM token_transactions WHERE user_id = :u"),
                {"u": user_id},
            )
        ).all()
    assert [tuple(r) for r in rows] == [("EARN_REGENERATION", 10)]

    deleted = UserDeleted(user_id=user_id, deleted_at=utc_now())
    async with tokens_app.uow() as uow:
        await handlers.on_user_deleted(
            deleted,
            Envelope.wrap(
                deleted, source="identity", subject=user_id, correlation_id=str(uuid.uuid4())
            ),
            uow,
        )
        await uow.commit()
    async with tokens_app.database.engine.connect() as conn:
        left = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM user_token_balances WHERE user_id = :u) "
                    "+ (SELECT count(*) FROM token_transactions WHERE user_id = :u)"
                ),
                {"u": user_id},
            )
        ).scalar_one()
    assert left == 0
