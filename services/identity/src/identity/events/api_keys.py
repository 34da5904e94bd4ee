"""Handlers of the events that change API keys and trials: plan changes, reported usage."""

from __future__ import annotations

import structlog

from identity.domain.api_key_usage import store_calls
from identity.domain.plan_tiers import apply_subscription_update, is_paid_and_live
from identity.domain.trials import convert_trials
from lib_contracts.api_usage import ApiUsageBatch
from lib_contracts.billing import SubscriptionUpdated
from lib_database import UnitOfWork
from lib_messaging.envelope import Envelope

log = structlog.get_logger(__name__)


async def on_subscription_updated(
    payload: SubscriptionUpdated, envelope: Envelope, uow: UnitOfWork
) -> None:
    """The user's keys take their plan's tier; a paid plan converts their active trials."""
    tier = await apply_subscription_update(uow.session, payload)
    paying = tier is not None and is_paid_and_live(payload)
    converted = await convert_trials(uow, payload.user_id) if paying else 0
    log.info(
        "apikeys.plan_applied" if tier else "apikeys.plan_skipped",
        user_id=payload.user_id,
        subscription_id=payload.subscription_id,
        revision=payload.revision,
        tier=tier,
        trials_converted=converted,
    )


async def on_api_usage_recorded(
    payload: ApiUsageBatch, envelope: Envelope, uow: UnitOfWork
) -> None:
    await store_calls(uow, payload)
