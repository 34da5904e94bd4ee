"""One method per Stripe call billing makes, over the official SDK's async methods.

Every call that creates something at Stripe carries an idempotency key that was committed to
`stripe_idempotency_keys` before the call (see idempotency.py). Results come back mapped onto
our terms (mapping.py); Stripe errors come back as problem errors (402 for a declined card,
502 when Stripe fails or cannot be reached).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import stripe
import structlog

from billing.models import StripePaymentStatus, SubscriptionPlan
from billing.stripe_gateway import idempotency
from billing.stripe_gateway.mapping import (
    CardDetails,
    PaymentIntentState,
    StripeSubscriptionState,
)
from lib_database import Database
from lib_web.problems import ProblemError

log = structlog.get_logger(__name__)


class StripeRequestError(ProblemError):
    """Stripe failed, refused the request or could not be reached."""

    def __init__(self, detail: str) -> None:
        super().__init__(502, "Bad Gateway", f"The payment provider failed: {detail}")


class PaymentDeclinedError(ProblemError):
    def __init__(self, detail: str | None, code: str | None) -> None:
        super().__init__(
            402, "Payment Required", detail or "The card was declined.", decline_code=code
        )


def _problem(error: stripe.StripeError) -> ProblemError:
    if isinstance(error, stripe.CardError):
        return PaymentDeclinedError(error.user_message, error.code)
    log.warning("stripe.request_failed", error=repr(error), status=error.http_status)
    return StripeRequestError(error.user_message or type(error).__name__)


def _is_missing(error: stripe.StripeError) -> bool:
    return error.http_status == 404 or error.code == "resource_missing"


def _already_exists(error: stripe.StripeError) -> bool:
    return error.http_status == 409 or error.code == "resource_already_exists"


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, database: Database) -> None:
        self._stripe = client
        self._database = database

    async def _key(self, operation: str, target_id: str) -> str:
        return await idempotency.stored_key(self._database, operation, target_id)

    # -- customers ------------------------------------------------------------------------

    async def create_customer(
        self, *, customer_id: str, user_id: str, email: str | None, name: str | None
    ) -> str:
        """The Stripe customer of our customer row `customer_id` (created once)."""
        # Keyed by the user: a retried registration (new row ids) still creates one customer.
        key = await self._key("customer.create", user_id)
        params: dict[str, Any] = {"metadata": {"user_id": user_id, "customer_id": customer_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        try:
            customer = await self._stripe.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise _problem(error) from error
        await idempotency.mark_completed(self._database, key, customer.id)
        return str(customer.id)

    async def delete_customer(self, stripe_customer_id: str) -> None:
        """Delete a customer at Stripe (its subscriptions end with it); gone already is fine."""
        try:
            await self._stripe.v1.customers.delete_async(stripe_customer_id)
        except stripe.StripeError as error:
            if not _is_missing(error):
                raise _problem(error) from error

    async def set_default_payment_method(
        self, stripe_customer_id: str, stripe_payment_method_id: str | None
    ) -> None:
        try:
            await self._stripe.v1.customers.update_async(
                stripe_customer_id,
                {"invoice_settings": {"default_payment_method": stripe_payment_method_id or ""}},
            )
        except stripe.StripeError as error:
            raise _problem(error) from error

    # -- payment methods ------------------------------------------------------------------

    async def attach_payment_method(
        self, stripe_payment_method_id: str, *, stripe_customer_id: str, request_id: str
    ) -> CardDetails:
        """Attach a payment method (e.g. `pm_card_visa`) to the customer; `request_id` names
        this attach request, so a retried request attaches once."""
        key = await self._key("payment_method.attach", request_id)
        try:
            attached = await self._stripe.v1.payment_methods.attach_async(
                stripe_payment_method_id,
                {"customer": stripe_customer_id},
                {"idempotency_key": key},
            )
        except stripe.StripeError as error:
            if _is_missing(error):
                raise ProblemError(
                    422, "Unprocessable Content", "No such payment method at Stripe."
                ) from error
            raise _problem(error) from error
        await idempotency.mark_completed(self._database, key, attached.id)
        return CardDetails.of(attached.to_dict())

    async def detach_payment_method(self, stripe_payment_method_id: str) -> None:
        try:
            await self._stripe.v1.payment_methods.detach_async(stripe_payment_method_id)
        except stripe.StripeError as error:
            if not _is_missing(error):
                raise _problem(error) from error

    # -- plans and subscriptions ----------------------------------------------------------

    async def ensure_plan(self, plan: SubscriptionPlan) -> None:
        """Create the Stripe product and plan of one of our plans (ids derived from ours, so
        this is safe to repeat)."""
        if plan.stripe_price_id is None:
            raise ValueError(f"plan {plan.id} is not sold through Stripe")
        product_id = f"prod_{plan.id}"
        product_key = await self._key("product.create", plan.id)
        try:
            await self._stripe.v1.products.create_async(
                {"id": product_id, "name": plan.name}, {"idempotency_key": product_key}
            )
        except stripe.StripeError as error:
            if not _already_exists(error):
                raise _problem(error) from error
        await idempotency.mark_completed(self._database, product_key, product_id)
        plan_key = await self._key("plan.create", plan.id)
        try:
            await self._stripe.v1.plans.create_async(
                {
                    "id": plan.stripe_price_id,
                    "amount": plan.price_cents,
                    "currency": plan.currency,
                    "interval": plan.billing_interval,
                    "product": product_id,
                    "nickname": plan.name,
                },
                {"idempotency_key": plan_key},
            )
        except stripe.StripeError as error:
            if not _already_exists(error):
                raise _problem(error) from error
        await idempotency.mark_completed(self._database, plan_key, plan.stripe_price_id)

    async def create_subscription(
        self,
        *,
        stripe_customer_id: str,
        plan: SubscriptionPlan,
        target_id: str,
        metadata: dict[str, str],
    ) -> StripeSubscriptionState:
        """Subscribe the customer to `plan` (charged to its default payment method);
        `target_id` names this change, so a retry creates one subscription."""
        key = await self._key("subscription.create", target_id)
        params: dict[str, Any] = {
            "customer": stripe_customer_id,
            "items": [{"plan": plan.stripe_price_id}],
            "metadata": metadata,
        }
        for attempt in (1, 2):
            try:
                created = await self._stripe.v1.subscriptions.create_async(
                    params,  # type: ignore[arg-type]
                    {"idempotency_key": key},
                )
                break
            except stripe.StripeError as error:
                if attempt == 1 and _is_missing(error):
                    await self.ensure_plan(plan)  # plans are created at Stripe on first use
                    continue
                if isinstance(error, stripe.CardError):
                    await self.forget_subscription_attempt(target_id)
                raise _problem(error) from error
        await idempotency.mark_completed(self._database, key, created.id)
        return StripeSubscriptionState.of(created.to_dict())

    async def forget_subscription_attempt(self, target_id: str) -> None:
        """After a refused first payment, the next attempt must not replay this one."""
        await idempotency.forget(self._database, "subscription.create", target_id)

    async def retrieve_subscription(
        self, stripe_subscription_id: str
    ) -> StripeSubscriptionState | None:
        try:
            found = await self._stripe.v1.subscriptions.retrieve_async(stripe_subscription_id)
        except stripe.StripeError as error:
            if _is_missing(error):
                return None
            raise _problem(error) from error
        return StripeSubscriptionState.of(found.to_dict())

    async def update_subscription(
        self,
        stripe_subscription_id: str,
        *,
        item_id: str | None = None,
        plan: SubscriptionPlan | None = None,
        cancel_at_period_end: bool | None = None,
    ) -> StripeSubscriptionState:
        """Change the plan (now) and/or whether the subscription ends at its period end."""
        params: dict[str, Any] = {}
        if plan is not None:
            params["items"] = [{"id": item_id, "plan": plan.stripe_price_id}]
        if cancel_at_period_end is not None:
            params["cancel_at_period_end"] = cancel_at_period_end
        for attempt in (1, 2):
            try:
                updated = await self._stripe.v1.subscriptions.update_async(
                    stripe_subscription_id,
                    params,  # type: ignore[arg-type]
                )
                break
            except stripe.StripeError as error:
                if attempt == 1 and plan is not None and _is_missing(error):
                    await self.ensure_plan(plan)
                    continue
                raise _problem(error) from error
        return StripeSubscriptionState.of(updated.to_dict())

    async def cancel_subscription(
        self, stripe_subscription_id: str
    ) -> StripeSubscriptionState | None:
        """End the subscription now; None if Stripe no longer has it."""
        try:
            canceled = await self._stripe.v1.subscriptions.cancel_async(stripe_subscription_id)
        except stripe.StripeError as error:
            if _is_missing(error):
                return None
            raise _problem(error) from error
        return StripeSubscriptionState.of(canceled.to_dict())

    # -- payment intents ------------------------------------------------------------------

    async def create_payment_intent(
        self,
        *,
        target_id: str,
        amount_cents: int,
        currency: str,
        capture_method: str,
        metadata: dict[str, str],
        stripe_customer_id: str | None = None,
        stripe_payment_method_id: str | None = None,
        confirm: bool = False,
    ) -> PaymentIntentState:
        """Create a PaymentIntent (`target_id` names this payment, so a retry creates one
        intent) and, with `confirm`, confirm it with its payment method. A declined card is
        not an error here: the state says FAILED, with Stripe's decline code."""
        key = await self._key("payment_intent.create", target_id)
        params: dict[str, Any] = {
            "amount": amount_cents,
            "currency": currency,
            "capture_method": capture_method,
            "metadata": metadata,
        }
        if stripe_customer_id:
            params["customer"] = stripe_customer_id
        try:
            created = await self._stripe.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise _problem(error) from error
        await idempotency.mark_completed(self._database, key, created.id)
        state = PaymentIntentState.of(created.to_dict())
        if stripe_payment_method_id is None:
            return state
        method = stripe_payment_method_id
        if stripe_customer_id:
            # Paid with a card saved on the customer (attaching a saved one changes nothing);
            # a card the bank refuses may already be declined here.
            try:
                method = (
                    await self.attach_payment_method(
                        stripe_payment_method_id,
                        stripe_customer_id=stripe_customer_id,
                        request_id=f"{target_id}:card",
                    )
                ).stripe_payment_method_id
            except PaymentDeclinedError as declined:
                await self.cancel_payment_intent(created.id)
                return replace(
                    state,
                    status=StripePaymentStatus.FAILED,
                    failure_code=str(declined.extensions.get("decline_code") or "card_declined"),
                    failure_message=declined.detail,
                )
        try:
            updated = await self._stripe.v1.payment_intents.update_async(
                created.id,
                {"payment_method": method},
            )
        except stripe.StripeError as error:
            raise _problem(error) from error
        if confirm and updated.status == "requires_confirmation":
            return await self.confirm_payment_intent(created.id)
        return PaymentIntentState.of(updated.to_dict())

    async def confirm_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        """Confirm with the intent's payment method; a decline comes back as a FAILED state."""
        try:
            confirmed = await self._stripe.v1.payment_intents.confirm_async(payment_intent_id)
        except stripe.CardError as error:
            state = await self.retrieve_payment_intent(payment_intent_id)
            if state is None:
                raise _problem(error) from error
            if state.failure_code is None:  # a look-alike that keeps no last error
                return replace(
                    state,
                    status=StripePaymentStatus.FAILED,
                    failure_code=error.code or "card_declined",
                    failure_message=error.user_message,
                )
            return state
        except stripe.StripeError as error:
            raise _problem(error) from error
        return PaymentIntentState.of(confirmed.to_dict())

    async def retrieve_payment_intent(self, payment_intent_id: str) -> PaymentIntentState | None:
        try:
            found = await self._stripe.v1.payment_intents.retrieve_async(payment_intent_id)
        except stripe.StripeError as error:
            if _is_missing(error):
                return None
            raise _problem(error) from error
        return PaymentIntentState.of(found.to_dict())

    async def capture_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        try:
            captured = await self._stripe.v1.payment_intents.capture_async(payment_intent_id)
        except stripe.CardError as error:
            state = await self.retrieve_payment_intent(payment_intent_id)
            if state is None:
                raise _problem(error) from error
            return state
        except stripe.StripeError as error:
            raise _problem(error) from error
        return PaymentIntentState.of(captured.to_dict())

    async def cancel_payment_intent(self, payment_intent_id: str) -> PaymentIntentState:
        try:
            canceled = await self._stripe.v1.payment_intents.cancel_async(payment_intent_id)
        except stripe.StripeError as error:
            raise _problem(error) from error
        return PaymentIntentState.of(canceled.to_dict())

    async def refund_payment_intent(self, payment_intent_id: str, *, target_id: str) -> None:
        """Refund a captured payment in full (once per `target_id`)."""
        key = await self._key("refund.create", target_id)
        try:
            refund = await self._stripe.v1.refunds.create_async(
                {"payment_intent": payment_intent_id}, {"idempotency_key": key}
            )
        except stripe.StripeError as error:
            raise _problem(error) from error
        await idempotency.mark_completed(self._database, key, refund.id)
