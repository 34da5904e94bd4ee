"""A key's rate limit holds for calls a consumer answers from its cache: they are reported
to identity with the consumer's next verify (`cost`) and counted there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.config import IdentitySettings

from .conftest import active_key


@pytest.fixture
def identity_settings(service_settings: Callable[..., Any], migrated: None) -> IdentitySettings:
    limits = {"FREE": {"per_minute": 5, "per_day": 1_000}}
    settings: IdentitySettings = service_settings(IdentitySettings, api_key_rate_limits=limits)
    return settings


async def test_calls_served_from_a_consumers_cache_count_against_the_limit(
    identity: httpx.AsyncClient,
    identity_app: FastAPI,
    content: httpx.AsyncClient,
    content_app: FastAPI,
) -> None:
    key, _ = await active_key(identity, identity_app)
    headers = {"X-API-Key": key["key"]}
    statuses = [(await content.get("/api/v1/probe", headers=headers)).status_code for _ in range(8)]
    # 5 per minute, whether identity or the consumer's cache answered.
    assert statuses == [200] * 5 + [429] * 3, statuses
    assert content_app.state.identity_calls.requests <= 3  # most answered from the cache
    limited = await content.get("/api/v1/probe", headers=headers)
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
