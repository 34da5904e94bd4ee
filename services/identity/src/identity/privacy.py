"""Showing personal data only in part."""

from __future__ import annotations


def mask_email(address: str | None) -> str | None:
    """`a***@example.com`: enough to recognise an address one knows, not to learn it."""
    if address is None:
        return None
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
