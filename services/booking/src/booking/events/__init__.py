"""Events the booking service consumes: one subscription (queue) per handler group."""

from lib_messaging.consumer import Subscription

SUBSCRIPTIONS: list[Subscription] = []
