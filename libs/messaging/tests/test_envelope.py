from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from lib_messaging.envelope import (
    Envelope,
    EventPayload,
    EventRegistry,
    UnknownEventError,
    event_contract,
    registry,
)


@event_contract("test.widget.painted", 2)
class WidgetPainted(EventPayload):
    widget_id: str
    colour_code: int


def test_contract_is_registered_under_type_and_version() -> None:
    assert registry.model_for("test.widget.painted", 2) is WidgetPainted
    assert WidgetPainted.routing_key() == "test.widget.painted.v2"
    with pytest.raises(UnknownEventError):
        registry.model_for("test.widget.painted", 1)


def test_registering_another_model_under_a_taken_key_is_refused() -> None:
    events = EventRegistry()
    events.register(WidgetPainted)
    events.register(WidgetPainted)  # the same model again is fine

    class Impostor(EventPayload):
        pass

    Impostor.event_type, Impostor.event_version = "test.widget.painted", 2
    with pytest.raises(ValueError, match="already registered"):
        events.register(Impostor)


def test_envelope_round_trip_in_camel_case() -> None:
    envelope = Envelope.wrap(
        WidgetPainted(widget_id="w1", colour_code=7),
        source="identity",
        subject="w1",
        correlation_id="corr-1",
        causation_id=str(uuid.uuid4()),
    )
    body = envelope.to_json()
    assert b'"occurredAt"' in body and b'"correlationId"' in body and b'"colourCode"' in body
    decoded = Envelope.model_validate_json(body)
    assert decoded == envelope
    assert decoded.payload() == WidgetPainted(widget_id="w1", colour_code=7)
    assert decoded.routing_key == "test.widget.painted.v2"


def test_bad_payload_and_unknown_fields_are_refused() -> None:
    envelope = Envelope(
        type="test.widget.painted",
        version=2,
        source="x",
        subject="w",
        correlation_id="c",
        data={"widgetId": "w", "colourCode": "not a number"},
    )
    with pytest.raises(ValidationError):
        envelope.payload()
    with pytest.raises(ValidationError):
        WidgetPainted.model_validate({"widgetId": "w", "colourCode": 1, "extra": True})
