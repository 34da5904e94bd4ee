"""Scheduled jobs of the billing worker (lib_runtime.scheduling)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import stripe

from billing.domain import regeneration, reservations, subscriptions
from billing.models import utc_now
from billing.stripe_gateway import StripeGateway
from billing.stripe_gateway.client import worker_stripe_client
from lib_runtime.scheduling import JobRun, ScheduledJob, UnitOfWorkFactory


def period_end_changes(
    stripe_client: Callable[[], stripe.StripeClient],
    clock: Callable[[], datetime] = utc_now,
) -> JobRun:
    """Cancellations and downgrades that fall due at the end of a paid period."""

    async def run(uow_factory: UnitOfWorkFactory) -> int:
        uow = uow_factory()
        gateway = StripeGateway(stripe_client(), uow.database)
        return await subscriptions.apply_period_end_changes(uow, gateway, now=clock())

    return run


async def release_expired_reservations(uow_factory: UnitOfWorkFactory) -> int:
    """Reservations never confirmed within `reservation_timeout_s` give their tokens back
    (their deadline was set when they were made)."""
    return await reservations.release_expired(uow_factory(), now=utc_now())


async def regenerate_tokens(uow_factory: UnitOfWorkFactory) -> int:
    """The monthly tokens of each plan, once per user and month; run often, it only finds
    work in the first run of a month (and for balances it missed)."""
    return await regeneration.regenerate_due(uow_factory(), now=utc_now())


def build_jobs(stripe_client: Callable[[], stripe.StripeClient]) -> list[ScheduledJob]:
    return [
        ScheduledJob(
            name="period-end-changes", every_s=300.0, run=period_end_changes(stripe_client)
        ),
        ScheduledJob(
            name="release-expired-reservations", every_s=60.0, run=release_expired_reservations
        ),
        ScheduledJob(name="regenerate-tokens", every_s=600.0, run=regenerate_tokens),
    ]


JOBS: list[ScheduledJob] = build_jobs(worker_stripe_client)
