"""The `Idempotency-Key` request header of POSTs that create, and how a replay is answered:
200 (not 201) with `Idempotent-Replayed: true`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response, status

from identity.domain.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=IDEMPOTENCY_KEY_MAX_LENGTH),
]
REPLAYED_HEADER = "Idempotent-Replayed"


def mark_replay(replayed: bool, response: Response) -> None:
    if replayed:
        response.status_code = status.HTTP_200_OK
        response.headers[REPLAYED_HEADER] = "true"
