"""Stripe webhook deliveries: the signature checked against the raw body, then parsed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe

from billing.stripe_gateway.mapping import from_timestamp


class InvalidWebhookError(Exception):
    """Bad, stale or missing signature, or a body that is not a Stripe event."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    stripe_event_id: str
    type: str
    api_version: str | None
    livemode: bool
    created: datetime
    object_id: str | None
    data_object: dict[str, Any]


def verify_and_parse(
    body: bytes, signature_header: str | None, secrets: Sequence[str], tolerance_s: int
) -> WebhookEvent:
    """The event of a delivery whose signature matches one of `secrets` (several during a
    rotation) and is at most `tolerance_s` old; InvalidWebhookError otherwise."""
    if not signature_header:
        raise InvalidWebhookError("missing Stripe-Signature header")
    payload = body.decode("utf-8", errors="strict") if body else ""
    last_error: Exception | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance_s)
            break
        except stripe.SignatureVerificationError as error:
            last_error = error
    else:
        raise InvalidWebhookError(str(last_error) if last_error else "no webhook secret")
    try:
        event = json.loads(payload)
        data_object = event["data"]["object"]
        return WebhookEvent(
            stripe_event_id=str(event["id"]),
            type=str(event["type"]),
            api_version=event.get("api_version"),
            livemode=bool(event.get("livemode", False)),
            created=from_timestamp(event["created"]),  # type: ignore[arg-type]
            object_id=str(data_object["id"]) if data_object.get("id") else None,
            data_object=data_object,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidWebhookError(f"not a Stripe event: {error!r}") from error
