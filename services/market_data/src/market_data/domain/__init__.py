"""Use cases of the market_data service: they own the transaction and commit it."""
