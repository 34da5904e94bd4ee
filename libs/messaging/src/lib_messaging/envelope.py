"""The event envelope of DESIGN.md and the registry of payload contracts.

An event is a payload model (a contract in `lib_contracts`) registered under its
`(type, version)`; on the wire it travels inside an `Envelope`, CloudEvents-shaped and camelCase.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """JSON in camelCase, Python in snake_case (DESIGN.md)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class EventPayload(CamelModel):
    """Base of every event contract. Subclasses are registered with `@event_contract`."""

    event_type: ClassVar[str]
    event_version: ClassVar[int]

    @classmethod
    def routing_key(cls) -> str:
        return routing_key(cls.event_type, cls.event_version)


def routing_key(event_type: str, version: int) -> str:
    """`<type>.v<version>`, e.g. `billing.subscription.updated.v1`."""
    return f"{event_type}.v{version}"


class UnknownEventError(LookupError):
    """No contract is registered for an event's (type, version)."""


class EventRegistry:
    """Maps `(type, version)` to the payload model that decodes it."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[EventPayload]] = {}

    def register(self, model: type[EventPayload]) -> None:
        key = (model.event_type, model.event_version)
        existing = self._models.get(key)
        if existing is not None and existing is not model:
            raise ValueError(f"{key} is already registered to {existing.__qualname__}")
        self._models[key] = model

    def model_for(self, event_type: str, version: int) -> type[EventPayload]:
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEventError(f"no contract for {event_type} v{version}") from None

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._models

    def __iter__(self) -> Any:
        return iter(sorted(self._models))


registry = EventRegistry()

P = TypeVar("P", bound=type[EventPayload])


def event_contract(event_type: str, version: int) -> Callable[[P], P]:
    """Class decorator: name a payload model's event type and version and register it."""

    def register(model: P) -> P:
        model.event_type = event_type
        model.event_version = version
        registry.register(model)
        return model

    return register


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(CamelModel):
    """CloudEvents-shaped envelope. `id` is the dedupe key across redeliveries."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = Field(ge=1)
    source: str
    subject: str
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str
    causation_id: str | None = None
    data: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return routing_key(self.type, self.version)

    @classmethod
    def wrap(
        cls,
        payload: EventPayload,
        *,
        source: str,
        subject: str,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Envelope:
        return cls(
            type=payload.event_type,
            version=payload.event_version,
            source=source,
            subject=subject,
            correlation_id=correlation_id,
            causation_id=causation_id,
            data=payload.model_dump(mode="json", by_alias=True),
        )

    def payload(self, events: EventRegistry = registry) -> EventPayload:
        """Decode `data` with the registered contract (raises on unknown type or bad data)."""
        return events.model_for(self.type, self.version).model_validate(self.data)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()
