"""A small stand-in for identity, served over real HTTP: its JWKS and its API-key verify route.

It counts what it is asked, so tests can see exactly when the clients go to the network.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lib_auth import API_KEY_VERIFY_PATH, INTERNAL_TOKEN_HEADER, ApiKeyCode, ApiKeyVerification

INTERNAL_TOKEN = "test-internal-token"
JWKS_PATH = "/.well-known/jwks.json"


class IdentityStub:
    def __init__(self) -> None:
        self.reset()
        self.app = Starlette(
            routes=[
                Route(JWKS_PATH, self._jwks),
                Route(API_KEY_VERIFY_PATH, self._verify, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        """Forget everything a test set up or counted (one server serves the whole session)."""
        self.jwks: list[dict[str, Any]] = []
        self.jwks_hits = 0
        self.jwks_delay_s = 0.0
        self.jwks_broken = False
        self.answers: dict[str, ApiKeyVerification] = {}
        self.verify_hits: Counter[str] = Counter()
        self.costs: defaultdict[str, list[int]] = defaultdict(list)
        self.verify_delay_s = 0.0

    async def _jwks(self, request: Request) -> Response:
        self.jwks_hits += 1
        await asyncio.sleep(self.jwks_delay_s)
        if self.jwks_broken:
            return Response("identity is down", status_code=500)
        return JSONResponse({"keys": self.jwks})

    async def _verify(self, request: Request) -> Response:
        if request.headers.get(INTERNAL_TOKEN_HEADER) != INTERNAL_TOKEN:
            return JSONResponse({"detail": "not an internal caller"}, status_code=403)
        body = await request.json()
        key = body["key"]
        self.verify_hits[key] += 1
        self.costs[key].append(body.get("cost", 1))
        await asyncio.sleep(self.verify_delay_s)
        answer = self.answers.get(key) or ApiKeyVerification(valid=False, code=ApiKeyCode.NOT_FOUND)
        return Response(answer.model_dump_json(by_alias=True), media_type="application/json")
