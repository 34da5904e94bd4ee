"""Credential primitives of identity: password hashing, signing keys, access and opaque tokens.

They know nothing of the database or HTTP; use cases combine them.
"""
