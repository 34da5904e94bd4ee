"""The identity service (DESIGN.md)."""
