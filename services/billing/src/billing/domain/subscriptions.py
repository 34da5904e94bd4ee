"""Plans and subscriptions: the free plan on registration, subscribe and change plan (upgrade
now, downgrade at the period end), cancel at the period end, resume, and the Stripe state
applied from webhooks and from the period-end job.

Every change of a subscription row bumps its `revision` and emits billing.subscription.updated
(a full snapshot with the effective tier) through the unit of work. The row is locked while a
change talks to Stripe, so concurrent changes of one user's subscription apply one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import col

from billing.domain.accounts import customer_of, ensure_stripe_customer
from billing.domain.errors import (
    NoSubscriptionError,
    NotCancellingError,
    NothingToCancelError,
    PaymentFailedError,
    PaymentMethodRequiredError,
    PlanNotFoundError,
)
from billing.models import (
    Customer,
    PaymentMethod,
    Subscription,
    SubscriptionPlan,
    SubscriptionStatus,
    SubscriptionTier,
    utc_now,
)
from billing.stripe_gateway import StripeGateway, StripeSubscriptionState
from lib_contracts.billing import SubscriptionUpdated
from lib_database import UnitOfWork

FREE_PLAN_ID = "plan_free"


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    plan: SubscriptionPlan


# -- reading --------------------------------------------------------------------------------


async def list_plans(
    uow: UnitOfWork, *, limit: int, after_sort_order: int | None
) -> Sequence[SubscriptionPlan]:
    statement = (
        select(SubscriptionPlan)
        .where(col(SubscriptionPlan.active))
        .order_by(col(SubscriptionPlan.sort_order), col(SubscriptionPlan.id))
        .limit(limit)
    )
    if after_sort_order is not None:
        statement = statement.where(col(SubscriptionPlan.sort_order) > after_sort_order)
    async with uow:
        return list((await uow.session.execute(statement)).scalars())


async def _plan(uow: UnitOfWork, plan_id: str) -> SubscriptionPlan | None:
    plan: SubscriptionPlan | None = await uow.session.get(SubscriptionPlan, plan_id)
    return plan


async def _plan_by_tier(uow: UnitOfWork, tier: str) -> SubscriptionPlan:
    plan = (
        await uow.session.execute(
            select(SubscriptionPlan).where(col(SubscriptionPlan.tier) == tier)
        )
    ).scalar_one()
    return plan


async def _plan_by_price(uow: UnitOfWork, price_id: str) -> SubscriptionPlan | None:
    plan: SubscriptionPlan | None = (
        await uow.session.execute(
            select(SubscriptionPlan).where(col(SubscriptionPlan.stripe_price_id) == price_id)
        )
    ).scalar_one_or_none()
    return plan


async def _locked_subscription(uow: UnitOfWork, user_id: str) -> Subscription:
    subscription: Subscription | None = (
        await uow.session.execute(
            select(Subscription).where(col(Subscription.user_id) == user_id).with_for_update()
        )
    ).scalar_one_or_none()
    if subscription is None:
        raise NoSubscriptionError()
    return subscription


async def get_my_subscription(uow: UnitOfWork, user_id: str) -> SubscriptionView:
    async with uow:
        subscription: Subscription | None = (
            await uow.session.execute(
                select(Subscription).where(col(Subscription.user_id) == user_id)
            )
        ).scalar_one_or_none()
        if subscription is None:
            raise NoSubscriptionError()
        plan = await _plan(uow, subscription.plan_id)
        assert plan is not None  # a foreign key
        return SubscriptionView(subscription, plan)


# -- changes --------------------------------------------------------------------------------


def _announce(uow: UnitOfWork, subscription: Subscription, plan: SubscriptionPlan) -> None:
    """Record a change: revision + 1 and billing.subscription.updated with the new state."""
    subscription.revision += 1
    subscription.updated_at = utc_now()
    uow.session.add(subscription)
    _emit(uow, subscription, plan)


def _emit(uow: UnitOfWork, subscription: Subscription, plan: SubscriptionPlan) -> None:
    uow.emit(
        SubscriptionUpdated(
            subscription_id=subscription.id,
            user_id=subscription.user_id,
            revision=subscription.revision,
            updated_at=subscription.updated_at,
            plan_id=plan.id,
            plan_name=plan.name,
            tier=plan.tier,
            status=subscription.status,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            cancel_at_period_end=subscription.cancel_at_period_end,
            downgrade_to=subscription.downgrade_to,
            tokens_per_month=subscription.tokens_per_month,
            api_access=plan.api_access,
        ),
        subject=subscription.id,
    )


def _put_on_plan(subscription: Subscription, plan: SubscriptionPlan) -> None:
    subscription.plan_id = plan.id
    subscription.tier = plan.tier
    subscription.stripe_price_id = plan.stripe_price_id
    subscription.tokens_per_month = plan.tokens_per_month
    subscription.max_rollover = plan.max_rollover
    subscription.rollover_tokens = min(subscription.rollover_tokens, plan.max_rollover)


def _revert_to_free(subscription: Subscription, free: SubscriptionPlan) -> None:
    _put_on_plan(subscription, free)
    subscription.stripe_subscription_id = None
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.cancel_at_period_end = False
    subscription.downgrade_to = None
    subscription.current_period_start = None
    subscription.current_period_end = None
    subscription.canceled_at = utc_now()


def _take_stripe_state(
    subscription: Subscription, state: StripeSubscriptionState, plan: SubscriptionPlan
) -> None:
    _put_on_plan(subscription, plan)
    assert state.status is not None
    subscription.stripe_subscription_id = state.stripe_subscription_id
    subscription.status = state.status
    subscription.current_period_start = state.current_period_start
    subscription.current_period_end = state.current_period_end
    subscription.cancel_at_period_end = state.cancel_at_period_end


def _fingerprint(subscription: Subscription) -> tuple[object, ...]:
    return (
        subscription.plan_id,
        subscription.stripe_subscription_id,
        subscription.status,
        subscription.current_period_start,
        subscription.current_period_end,
        subscription.cancel_at_period_end,
        subscription.downgrade_to,
    )


async def start_free_plan(uow: UnitOfWork, customer: Customer) -> Subscription:
    """The free plan of a new customer (announced at once: revision 1)."""
    free = await _plan(uow, FREE_PLAN_ID)
    assert free is not None  # seeded by migration 0002
    subscription = Subscription(
        user_id=customer.user_id,
        customer_id=customer.id,
        plan_id=free.id,
        tier=free.tier,
        tokens_per_month=free.tokens_per_month,
        max_rollover=free.max_rollover,
    )
    uow.session.add(subscription)
    await uow.session.flush()
    _emit(uow, subscription, free)
    return subscription


async def change_plan(
    uow: UnitOfWork, stripe: StripeGateway, user_id: str, plan_id: str
) -> SubscriptionView:
    """Subscribe to `plan_id`: a dearer plan starts now (charged to the default payment
    method), a cheaper one at the end of the paid period (`downgradeTo`)."""
    async with uow:
        target = await _plan(uow, plan_id)
        if target is None or not target.active:
            raise PlanNotFoundError()
        subscription = await _locked_subscription(uow, user_id)
        current = await _plan(uow, subscription.plan_id)
        assert current is not None
        if target.id == current.id:
            if subscription.downgrade_to is not None:  # staying: the pending downgrade is off
                subscription.downgrade_to = None
                _announce(uow, subscription, current)
        elif subscription.stripe_subscription_id is None:
            if target.stripe_price_id is not None:
                await _subscribe(uow, stripe, subscription, target)
        elif target.price_cents > current.price_cents:
            state = await stripe.update_subscription(
                subscription.stripe_subscription_id,
                item_id=(await _stripe_item(stripe, subscription)),
                plan=target,
                cancel_at_period_end=False if subscription.cancel_at_period_end else None,
            )
            _take_stripe_state(subscription, state, target)
            subscription.downgrade_to = None
            _announce(uow, subscription, target)
        else:
            before = _fingerprint(subscription)
            if subscription.cancel_at_period_end and target.stripe_price_id is not None:
                # Choosing a cheaper paid plan while cancelling: keep paying, on that plan.
                state = await stripe.update_subscription(
                    subscription.stripe_subscription_id, cancel_at_period_end=False
                )
                subscription.cancel_at_period_end = state.cancel_at_period_end
            subscription.downgrade_to = target.tier
            if _fingerprint(subscription) != before:
                _announce(uow, subscription, current)
        await uow.commit()
        plan = await _plan(uow, subscription.plan_id)
        assert plan is not None
        return SubscriptionView(subscription, plan)


async def _stripe_item(stripe: StripeGateway, subscription: Subscription) -> str:
    assert subscription.stripe_subscription_id is not None
    state = await stripe.retrieve_subscription(subscription.stripe_subscription_id)
    if state is None:
        raise NoSubscriptionError()
    return state.item_id


async def _subscribe(
    uow: UnitOfWork, stripe: StripeGateway, subscription: Subscription, plan: SubscriptionPlan
) -> None:
    has_default = (
        await uow.session.execute(
            select(col(PaymentMethod.id)).where(
                col(PaymentMethod.user_id) == subscription.user_id,
                col(PaymentMethod.is_default),
            )
        )
    ).first()
    if has_default is None:
        raise PaymentMethodRequiredError()
    customer = await customer_of(uow, subscription.user_id)
    stripe_customer_id = await ensure_stripe_customer(uow, stripe, customer)
    # One Stripe subscription per change of this row: a retried request creates it once.
    target_id = f"{subscription.id}:r{subscription.revision}"
    state = await stripe.create_subscription(
        stripe_customer_id=stripe_customer_id,
        plan=plan,
        target_id=target_id,
        metadata={"user_id": subscription.user_id, "subscription_id": subscription.id},
    )
    if state.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        await stripe.cancel_subscription(state.stripe_subscription_id)
        await stripe.forget_subscription_attempt(target_id)
        raise PaymentFailedError()
    _take_stripe_state(subscription, state, plan)
    subscription.downgrade_to = None
    _announce(uow, subscription, plan)


async def cancel(uow: UnitOfWork, stripe: StripeGateway, user_id: str) -> SubscriptionView:
    """End the paid subscription at the end of its period (the free plan follows)."""
    async with uow:
        subscription = await _locked_subscription(uow, user_id)
        plan = await _plan(uow, subscription.plan_id)
        assert plan is not None
        if subscription.stripe_subscription_id is None:
            raise NothingToCancelError()
        if not subscription.cancel_at_period_end:
            state = await stripe.update_subscription(
                subscription.stripe_subscription_id, cancel_at_period_end=True
            )
            subscription.cancel_at_period_end = state.cancel_at_period_end
            _announce(uow, subscription, plan)
        await uow.commit()
        return SubscriptionView(subscription, plan)


async def resume(uow: UnitOfWork, stripe: StripeGateway, user_id: str) -> SubscriptionView:
    """Undo a cancellation before the period ends."""
    async with uow:
        subscription = await _locked_subscription(uow, user_id)
        plan = await _plan(uow, subscription.plan_id)
        assert plan is not None
        if subscription.stripe_subscription_id is None or not subscription.cancel_at_period_end:
            raise NotCancellingError()
        state = await stripe.update_subscription(
            subscription.stripe_subscription_id, cancel_at_period_end=False
        )
        subscription.cancel_at_period_end = state.cancel_at_period_end
        _announce(uow, subscription, plan)
        await uow.commit()
        return SubscriptionView(subscription, plan)


# -- Stripe's side --------------------------------------------------------------------------


async def sync_from_stripe(
    uow: UnitOfWork,
    stripe: StripeGateway,
    stripe_subscription_id: str,
    *,
    now: datetime,
    event_created_at: datetime | None = None,
) -> bool:
    """Apply Stripe's current state of a subscription to ours (called for each of its webhook
    events). The state is fetched again rather than read from the event, so an old or
    replayed event can never roll the subscription back; an event older than one applied
    before is skipped without asking Stripe. True if anything changed."""
    subscription: Subscription | None = (
        await uow.session.execute(
            select(Subscription)
            .where(col(Subscription.stripe_subscription_id) == stripe_subscription_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if subscription is None:  # not (or no longer) the user's current subscription
        return False
    if event_created_at is not None:
        seen = subscription.stripe_event_created_at
        if seen is not None and event_created_at < seen:
            return False
        subscription.stripe_event_created_at = event_created_at
        uow.session.add(subscription)
    before = _fingerprint(subscription)
    state = await stripe.retrieve_subscription(stripe_subscription_id)
    if state is None or state.is_over:
        _revert_to_free(subscription, await _plan_by_tier(uow, SubscriptionTier.FREE))
    else:
        plan = await _plan_by_price(uow, state.price_id)
        if plan is None:
            raise ValueError(f"Stripe subscription {stripe_subscription_id} is on unknown price")
        previous_end = subscription.current_period_end
        _take_stripe_state(subscription, state, plan)
        rolled_over = (
            previous_end is not None
            and state.current_period_start is not None
            and state.current_period_start >= previous_end
        )
        if rolled_over or (state.current_period_end and state.current_period_end <= now):
            await _apply_period_end_change(uow, stripe, subscription)
    if _fingerprint(subscription) == before:
        return False
    plan_now = await _plan(uow, subscription.plan_id)
    assert plan_now is not None
    _announce(uow, subscription, plan_now)
    return True


async def _apply_period_end_change(
    uow: UnitOfWork, stripe: StripeGateway, subscription: Subscription
) -> None:
    """At the end of a paid period: end a cancelled subscription or apply the downgrade."""
    assert subscription.stripe_subscription_id is not None
    free = await _plan_by_tier(uow, SubscriptionTier.FREE)
    if subscription.cancel_at_period_end or subscription.downgrade_to == free.tier:
        await stripe.cancel_subscription(subscription.stripe_subscription_id)
        _revert_to_free(subscription, free)
    elif subscription.downgrade_to is not None:
        target = await _plan_by_tier(uow, subscription.downgrade_to)
        state = await stripe.update_subscription(
            subscription.stripe_subscription_id,
            item_id=await _stripe_item(stripe, subscription),
            plan=target,
        )
        _take_stripe_state(subscription, state, target)
        subscription.downgrade_to = None


async def apply_period_end_changes(
    uow: UnitOfWork, stripe: StripeGateway, *, now: datetime, batch_size: int = 50
) -> int:
    """The period-end job: subscriptions whose paid period is over and that were cancelled or
    downgraded get that change now, one commit per subscription. Safe to run twice: a
    subscription done once is no longer selected."""
    handled = 0
    async with uow:
        due = list(
            (
                await uow.session.execute(
                    select(col(Subscription.id))
                    .where(
                        col(Subscription.stripe_subscription_id).is_not(None),
                        col(Subscription.current_period_end) <= now,
                        (col(Subscription.cancel_at_period_end))
                        | (col(Subscription.downgrade_to).is_not(None)),
                    )
                    .order_by(col(Subscription.current_period_end))
                    .limit(batch_size)
                )
            ).scalars()
        )
        for subscription_id in due:
            subscription: Subscription | None = (
                await uow.session.execute(
                    select(Subscription)
                    .where(
                        col(Subscription.id) == subscription_id,
                        col(Subscription.current_period_end) <= now,
                    )
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if subscription is None or subscription.stripe_subscription_id is None:
                await uow.rollback()
                continue
            before = _fingerprint(subscription)
            await _apply_period_end_change(uow, stripe, subscription)
            if _fingerprint(subscription) != before:
                plan = await _plan(uow, subscription.plan_id)
                assert plan is not None
                _announce(uow, subscription, plan)
                handled += 1
            await uow.commit()
    return handled
