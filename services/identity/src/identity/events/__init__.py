"""Events the identity service consumes: one subscription (queue) per handler group."""

from identity.events.api_keys import on_api_usage_recorded, on_subscription_updated
from lib_contracts.billing import SubscriptionUpdated
from lib_contracts.content import ContentApiUsageRecorded
from lib_contracts.market_data import MarketDataApiUsageRecorded
from lib_messaging.consumer import Subscription

SUBSCRIPTIONS: list[Subscription] = [
    Subscription.of("plans", {SubscriptionUpdated: on_subscription_updated}),
    # Usage comes in volume: its own queue, so it never holds up a plan change.
    Subscription.of(
        "usage",
        {
            ContentApiUsageRecorded: on_api_usage_recorded,
            MarketDataApiUsageRecorded: on_api_usage_recorded,
        },
    ),
]
