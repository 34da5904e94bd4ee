"""The booking service (DESIGN.md)."""
