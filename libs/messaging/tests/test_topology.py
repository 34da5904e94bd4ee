from __future__ import annotations

from lib_messaging.consumer import Subscription, header_count
from lib_messaging.topology import QueueTopology, all_queue_names, queue_names


def topology(delays: list[int]) -> QueueTopology:
    return QueueTopology(
        names=queue_names("t1.", "billing", "main"),
        event_types=[("identity.user.registered", 1)],
        retry_delays_ms=delays,
        delivery_limit=5,
    )


def test_queue_names_follow_service_and_group() -> None:
    names = queue_names("t1.", "billing", "main")
    assert names.main == "t1.billing.main"
    assert names.dead_letter == "t1.billing.main.dlq"
    assert names.retry(500) == "t1.billing.main.retry.500ms"


def test_retries_walk_the_delays_and_repeat_the_longest() -> None:
    t = topology([100, 1_000, 10_000])
    assert [t.retry_queue_for(n) for n in (1, 2, 3, 4, 9)] == [
        "t1.billing.main.retry.100ms",
        "t1.billing.main.retry.1000ms",
        "t1.billing.main.retry.10000ms",
        "t1.billing.main.retry.10000ms",
        "t1.billing.main.retry.10000ms",
    ]


def test_all_queue_names_lists_main_dead_letter_and_delays() -> None:
    assert all_queue_names([topology([100, 200])]) == [
        "t1.billing.main",
        "t1.billing.main.dlq",
        "t1.billing.main.retry.100ms",
        "t1.billing.main.retry.200ms",
    ]


def test_header_count_ignores_garbage() -> None:
    assert header_count(None, "x-attempt") == 0
    assert header_count({"x-attempt": 3}, "x-attempt") == 3
    assert header_count({"x-attempt": "3"}, "x-attempt") == 0


def test_subscription_keys_handlers_by_contract() -> None:
    from lib_messaging.envelope import EventPayload, event_contract

    @event_contract("test.gadget.moved", 1)
    class GadgetMoved(EventPayload):
        gadget_id: str

    async def handle(*_: object) -> None:
        return None

    subscription = Subscription.of("main", {GadgetMoved: handle})
    assert subscription.handlers == {("test.gadget.moved", 1): handle}
