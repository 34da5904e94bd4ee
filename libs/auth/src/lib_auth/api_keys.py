"""API keys, client side: ask identity's internal verify route, cache the answer briefly.

The answer model (Unkey-style, camelCase JSON) is shared with identity, which serves it.
Answers are cached under a SHA-256 of the key, never the key itself: positive ones for
`cache_ttl_s`, negative ones for the shorter `negative_ttl_s`. A cached positive answer is
also used at most as many times as its rate-limit budget had left, then identity is asked
again. Calls answered from the cache (or by sharing another caller's request) are counted
here and reported with the next request for that key (`cost`), so identity counts every call
against the key's limits: caching cannot stretch them. (Calls served from an entry whose key
is never asked about again are not reported: at most one budget's worth per cached key.)
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import httpx
import structlog
from cachetools import TLRUCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from lib_auth.errors import ApiKeyServiceError
from lib_auth.http_client import HttpClientHolder
from lib_auth.internal import internal_auth_headers

API_KEY_VERIFY_PATH = "/internal/api-keys/verify"
MAX_API_KEY_LENGTH = 512

logger = structlog.stdlib.get_logger(__name__)


class ApiKeyCode(StrEnum):
    VALID = "VALID"
    NOT_FOUND = "NOT_FOUND"
    DISABLED = "DISABLED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    RATE_LIMITED = "RATE_LIMITED"
    INSUFFICIENT_PERMISSIONS = "INSUFFICIENT_PERMISSIONS"
    PENDING_VERIFICATION = "PENDING_VERIFICATION"


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class RateLimitState(_CamelModel):
    limit: int
    remaining: int
    reset: datetime


class ApiKeyVerifyRequest(_CamelModel):
    key: str = Field(min_length=1, max_length=MAX_API_KEY_LENGTH)
    # Calls to count against the key's limits: this one and those the caller answered from
    # its cache since it last asked.
    cost: int = Field(default=1, ge=1, le=1_000_000)
    # The answer is INSUFFICIENT_PERMISSIONS (and the call not counted) if the key lacks one.
    required_scopes: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = Field(
        default=(), max_length=50
    )


class ApiKeyVerification(_CamelModel):
    valid: bool
    code: ApiKeyCode
    key_id: str | None = None
    owner_id: str | None = None
    tier: str | None = None
    scopes: tuple[str, ...] = ()
    rate_limit: RateLimitState | None = None


def api_key_digest(key: str) -> str:
    """The cache key of an API key: its SHA-256, so no raw key is held in memory longer
    than the request."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class _CachedAnswer:
    verification: ApiKeyVerification
    ttl_s: float
    uses_left: int | None  # None: no rate limit to respect


class ApiKeyClient(HttpClientHolder):
    def __init__(
        self,
        identity_url: str,
        internal_token: str,
        *,
        cache_ttl_s: float = 10,
        negative_ttl_s: float = 2,
        max_cached_keys: int = 10_000,
        timeout_s: float = 2.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.verify_url = identity_url.rstrip("/") + API_KEY_VERIFY_PATH
        self.cache_ttl_s = cache_ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._headers = internal_auth_headers(internal_token)
        super().__init__(http, timeout_s)
        self._cache: TLRUCache[str, _CachedAnswer] = TLRUCache(
            maxsize=max_cached_keys, ttu=lambda _digest, answer, now: now + answer.ttl_s
        )
        # Calls for the same key that overlap share one request to identity.
        self._in_flight: dict[str, asyncio.Task[ApiKeyVerification]] = {}
        # Bumped by every eviction: an answer fetched across one is not cached (it may be stale).
        self._generation = 0
        # digest -> calls answered without asking identity, reported with the next ask.
        self._unreported: dict[str, int] = {}
        self._max_unreported = max_cached_keys

    async def verify(self, key: str, required_scopes: Sequence[str] = ()) -> ApiKeyVerification:
        """The key's verification; with `required_scopes`, a valid key lacking one of them is
        answered INSUFFICIENT_PERMISSIONS (checked here, so one cached answer serves every
        route whatever scopes it needs)."""
        verification = await self._verify(key)
        missing = set(required_scopes) - set(verification.scopes)
        if verification.valid and missing:
            return verification.model_copy(
                update={"valid": False, "code": ApiKeyCode.INSUFFICIENT_PERMISSIONS}
            )
        return verification

    async def _verify(self, key: str) -> ApiKeyVerification:
        if not key or len(key) > MAX_API_KEY_LENGTH:
            # Cannot be one of ours; no need to ask identity (or to cache junk).
            return ApiKeyVerification(valid=False, code=ApiKeyCode.NOT_FOUND)
        digest = api_key_digest(key)
        cached = self._cache_hit(digest)
        if cached is not None:
            if cached.valid:
                self._count_unreported(digest)
            return cached
        task = self._in_flight.get(digest)
        if task is None:
            task = asyncio.create_task(self._ask_identity(key, digest))
            self._in_flight[digest] = task
            task.add_done_callback(lambda done: self._forget_in_flight(digest, done))
        else:
            self._count_unreported(digest)  # answered by another caller's request
        # Shielded: one caller going away must not cancel the answer the others wait for.
        return await asyncio.shield(task)

    def evict_key_id(self, key_id: str) -> int:
        """Drop every cached answer for this key id (its key was revoked); how many."""
        self._generation += 1
        digests = [d for d, a in list(self._cache.items()) if a.verification.key_id == key_id]
        for digest in digests:
            self._cache.pop(digest, None)
            self._unreported.pop(digest, None)  # a revoked key's calls no longer matter
        return len(digests)

    def _count_unreported(self, digest: str) -> None:
        if digest not in self._unreported and len(self._unreported) >= self._max_unreported:
            # Bounded memory: forget the oldest count (a few calls go uncounted).
            self._unreported.pop(next(iter(self._unreported)))
        self._unreported[digest] = self._unreported.get(digest, 0) + 1

    def clear(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _cache_hit(self, digest: str) -> ApiKeyVerification | None:
        answer = self._cache.get(digest)
        if answer is None:
            return None
        if answer.uses_left is not None:
            if answer.uses_left <= 0:
                # Budget spent locally: identity decides whether the key is now limited.
                self._cache.pop(digest, None)
                return None
            answer.uses_left -= 1
        return answer.verification

    def _forget_in_flight(self, digest: str, task: asyncio.Task[ApiKeyVerification]) -> None:
        if self._in_flight.get(digest) is task:
            del self._in_flight[digest]

    async def _ask_identity(self, key: str, digest: str) -> ApiKeyVerification:
        generation = self._generation
        unreported = self._unreported.pop(digest, 0)
        request = ApiKeyVerifyRequest(key=key, cost=1 + unreported)
        try:
            response = await self._client().post(
                self.verify_url, json=request.model_dump(by_alias=True), headers=self._headers
            )
        except httpx.HTTPError as exc:
            self._restore_unreported(digest, unreported)
            logger.warning("api key verification unreachable", error=repr(exc))
            raise ApiKeyServiceError() from exc
        if response.status_code != 200:
            self._restore_unreported(digest, unreported)
            logger.warning("api key verification refused", status=response.status_code)
            raise ApiKeyServiceError()
        try:
            verification = ApiKeyVerification.model_validate_json(response.content)
        except ValidationError as exc:
            logger.warning("api key verification answer not understood", error=str(exc))
            raise ApiKeyServiceError() from exc
        if generation == self._generation:
            self._remember(digest, verification)
        return verification

    def _restore_unreported(self, digest: str, unreported: int) -> None:
        """Identity did not count them: report them with the next ask."""
        if unreported:
            self._unreported[digest] = self._unreported.get(digest, 0) + unreported

    def _remember(self, digest: str, verification: ApiKeyVerification) -> None:
        rate_limit = verification.rate_limit
        if verification.valid:
            uses_left = rate_limit.remaining if rate_limit is not None else None
            self._cache[digest] = _CachedAnswer(verification, self.cache_ttl_s, uses_left)
            return
        ttl_s = self.negative_ttl_s
        if verification.code is ApiKeyCode.RATE_LIMITED and rate_limit is not None:
            # Limited only until the window resets.
            ttl_s = min(ttl_s, (rate_limit.reset - datetime.now(UTC)).total_seconds())
        if ttl_s > 0:
            self._cache[digest] = _CachedAnswer(verification, ttl_s, None)
