"""The content service (DESIGN.md)."""
