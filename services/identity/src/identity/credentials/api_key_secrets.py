"""API key secrets: `<kind>_<256 random bits>`, shown once, stored as a keyed hash.

The kind prefix (`pk` for a user's key, `tk` for a trial workspace's) tells the verify route
which table to look in; the first characters of the random part are kept in clear so a user
can tell their keys apart in a list.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

from identity.credentials.opaque_tokens import TokenDigester

VISIBLE_RANDOM_CHARS = 8


class ApiKeyKind(StrEnum):
    USER = "pk"
    TRIAL = "tk"


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    secret: str  # given to the client once, never stored
    visible_prefix: str
    digest: str


def issue_secret(digester: TokenDigester, kind: ApiKeyKind) -> IssuedSecret:
    random_part = secrets.token_urlsafe(32)
    secret = f"{kind.value}_{random_part}"
    return IssuedSecret(
        secret=secret,
        visible_prefix=f"{kind.value}_{random_part[:VISIBLE_RANDOM_CHARS]}",
        digest=digester.digest(secret),
    )


def kind_of(secret: str) -> ApiKeyKind | None:
    """The kind a presented secret claims to be; None if it is not shaped like one of ours."""
    head, sep, rest = secret.partition("_")
    if not sep or not rest:
        return None
    try:
        return ApiKeyKind(head)
    except ValueError:
        return None
