"""The billing service (DESIGN.md)."""
