"""Correlation and causation ids of the work in progress, carried by contextvars.

The web layer sets the correlation id from the request; the consumer sets both from the event
it handles; the unit of work reads them when it wraps new events, so a chain of events and
the logs along it share one correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str:
    """The id of the work in progress, or a fresh one for work started out of nowhere."""
    return correlation_id_var.get() or new_correlation_id()


@contextmanager
def correlation_scope(correlation_id: str, causation_id: str | None = None) -> Iterator[None]:
    """Bind the ids for the duration of one request or one handled event (logs included)."""
    corr_token = correlation_id_var.set(correlation_id)
    cause_token = causation_id_var.set(causation_id)
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
        try:
            yield
        finally:
            causation_id_var.reset(cause_token)
            correlation_id_var.reset(corr_token)
