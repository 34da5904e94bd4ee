"""Idempotency-Key handling of POSTs that create a credential.

A repeated request (same key, same body) is answered with what the first one made; the secret
is not in that answer, since it was shown once and only its hash is kept. The same key with
another body is refused (422), as the IETF Idempotency-Key draft recommends.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lib_web.problems import ProblemError

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class IdempotencyKeyReusedError(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "Unprocessable Content",
            "This Idempotency-Key was already used for a different request.",
        )


def request_fingerprint(operation: str, body: dict[str, Any]) -> str:
    """A hash of what the request asks for, independent of field order."""
    canonical = json.dumps({"op": operation, **body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
