"""The market_data service (DESIGN.md)."""
