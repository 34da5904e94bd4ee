"""Events produced by the `market_data` context."""

from __future__ import annotations

from lib_messaging.envelope import event_contract

from .api_usage import ApiUsageBatch


@event_contract("market_data.api_usage.recorded", 1)
class MarketDataApiUsageRecorded(ApiUsageBatch):
    """market_data emits this with the calls it served with API keys, in batches.

    Identity stores each call once (by `call_id`) for the keys' usage statistics and
    `last_used_at`.
    """
