"""Events produced by the `booking` context: bookings, extensions and the Odoo sync."""

from __future__ import annotations

from typing import Literal

from lib_messaging.envelope import EventPayload, event_contract

from .common import Cents, Currency, Id, Revision, UtcDatetime

BookingStatus = Literal[
    "PENDING",
    "CONFIRMED",
    "IN_TRANSIT_TO_WORKSHOP",
    "IN_WORKSHOP",
    "READY_FOR_RETURN",
    "IN_TRANSIT_TO_CUSTOMER",
    "COMPLETED",
    "CANCELLED",
]
"""Seed 002's `BookingStatus` state machine."""

PaymentStatus = Literal["PENDING", "PAID", "FAILED", "REFUNDED"]
"""Seed 002's `PaymentStatus`."""

OdooEntityType = Literal["user", "booking", "extension", "invoice"]
"""Seed 002's `OdooSyncStatus.entityType` ("user, booking, invoice, etc."; extensions have
their own Odoo invoice)."""


@event_contract("booking.booking.status_changed", 1)
class BookingStatusChanged(EventPayload):
    """Booking emits this on every transition of a booking's status machine.

    Billing captures the payment (`payment_intent_id`, `amount_cents`) when the status
    becomes COMPLETED; booking's Odoo worker syncs the invoice.
    Out-of-order delivery: `revision` increases by one with every status change of the
    booking; apply an event only if its `revision` is higher than the one stored for
    `booking_id`, otherwise drop it (`changed_at` is the time of that transition).
    """

    booking_id: Id
    user_id: Id
    revision: Revision
    changed_at: UtcDatetime
    status: BookingStatus
    previous_status: BookingStatus | None = None
    payment_status: PaymentStatus
    amount_cents: Cents
    currency: Currency
    payment_intent_id: Id | None = None
    cancellation_reason: str | None = None


@event_contract("booking.extension.approved", 1)
class ExtensionApproved(EventPayload):
    """Booking emits this when the customer approves an extension (Auftragserweiterung).

    Billing charges the extension's `amount_cents` (seed 002's `totalAmount`) and answers
    with `billing.payment.succeeded` / `.failed` naming the extension.
    """

    extension_id: Id
    booking_id: Id
    user_id: Id
    amount_cents: Cents
    currency: Currency
    payment_intent_id: Id | None = None
    approved_at: UtcDatetime


@event_contract("booking.odoo.sync_requested", 1)
class OdooSyncRequested(EventPayload):
    """Command from booking to its own Odoo worker: push one entity to Odoo.

    The worker creates the Odoo partner (for a user) or invoice (for a booking or extension)
    once per (`entity_type`, `entity_id`), records the result in `odoo_sync_status` and logs
    failures in `failed_operations` so they can be retried. `reason` (what triggered the
    sync) is for logs only.
    """

    entity_type: OdooEntityType
    entity_id: Id
    reason: str | None = None
    requested_at: UtcDatetime
