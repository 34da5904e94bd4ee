"""Prometheus metrics of the event bus, shared by relay, consumer and the web layer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_BACKLOG = Gauge("outbox_backlog_events", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox event"
)
OUTBOX_PUBLISHED = Counter("outbox_published_events_total", "Events the relay published")
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Events the broker refused or did not route", ["reason"]
)
EVENTS_HANDLED = Counter(
    "consumer_events_handled_total", "Events handled, by queue and outcome", ["queue", "outcome"]
)
CONSUMER_FAILURES = Counter(
    "consumer_failures_total", "Handler failures (each attempt)", ["queue", "event_type"]
)
DEAD_LETTERED = Counter(
    "consumer_dead_lettered_total", "Events moved to a dead-letter queue", ["queue"]
)
DEAD_LETTER_DEPTH = Gauge(
    "dead_letter_queue_depth", "Messages waiting in a dead-letter queue", ["queue"]
)
HANDLE_SECONDS = Histogram(
    "consumer_handle_seconds", "Time to handle one event, inbox insert included", ["queue"]
)
