import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lib_auth import (
    ApiKeyClient,
    ApiKeyCode,
    ApiKeyServiceError,
    ApiKeyVerification,
    RateLimitState,
    api_key_digest,
)

from .identity_stub import INTERNAL_TOKEN, IdentityStub

KEY = "sk_live_0123456789abcdef"


def valid_answer(key_id: str = "key-1", remaining: int = 100) -> ApiKeyVerification:
    return ApiKeyVerification(
        valid=True,
        code=ApiKeyCode.VALID,
        key_id=key_id,
        owner_id="user-1",
        tier="PRO",
        scopes=("market:read",),
        rate_limit=RateLimitState(
            limit=100, remaining=remaining, reset=datetime.now(UTC) + timedelta(minutes=1)
        ),
    )


@pytest.fixture
async def client(identity_url: str, shared_http: httpx.AsyncClient) -> AsyncIterator[ApiKeyClient]:
    async with ApiKeyClient(
        identity_url, INTERNAL_TOKEN, cache_ttl_s=10, negative_ttl_s=0.1, http=shared_http
    ) as client:
        yield client


async def test_answer_is_parsed_and_cached_within_ttl(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer()
    first = await client.verify(KEY)
    second = await client.verify(KEY)
    assert first == second
    assert first.valid
    assert first.owner_id == "user-1"
    assert first.tier == "PRO"
    assert first.scopes == ("market:read",)
    assert identity.verify_hits[KEY] == 1


def test_answer_model_speaks_camel_case() -> None:
    body = valid_answer().model_dump(mode="json", by_alias=True)
    assert set(body) == {"valid", "code", "keyId", "ownerId", "tier", "scopes", "rateLimit"}
    assert set(body["rateLimit"]) == {"limit", "remaining", "reset"}


async def test_raw_key_is_never_a_cache_key(client: ApiKeyClient, identity: IdentityStub) -> None:
    identity.answers[KEY] = valid_answer()
    await client.verify(KEY)
    cached = list(client._cache.keys())
    assert cached == [hashlib.sha256(KEY.encode()).hexdigest()] == [api_key_digest(KEY)]
    assert all(KEY not in digest for digest in cached)


async def test_evicting_a_key_id_forces_a_new_call(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer(key_id="key-1")
    await client.verify(KEY)
    assert client.evict_key_id("key-other") == 0
    assert client.evict_key_id("key-1") == 1

    identity.answers[KEY] = ApiKeyVerification(valid=False, code=ApiKeyCode.REVOKED, key_id="key-1")
    answer = await client.verify(KEY)
    assert answer.code is ApiKeyCode.REVOKED
    assert identity.verify_hits[KEY] == 2


async def test_clear_forgets_everything(client: ApiKeyClient, identity: IdentityStub) -> None:
    identity.answers[KEY] = valid_answer()
    await client.verify(KEY)
    client.clear()
    await client.verify(KEY)
    assert identity.verify_hits[KEY] == 2


async def test_negative_answers_are_cached_shorter(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer()
    unknown = "sk_live_unknown"
    assert (await client.verify(unknown)).code is ApiKeyCode.NOT_FOUND
    await client.verify(unknown)
    await client.verify(KEY)
    assert identity.verify_hits[unknown] == 1

    await asyncio.sleep(0.15)  # past the negative TTL, well within the positive one
    await client.verify(unknown)
    await client.verify(KEY)
    assert identity.verify_hits[unknown] == 2
    assert identity.verify_hits[KEY] == 1


async def test_rate_limited_answer_is_not_cached_as_valid(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = ApiKeyVerification(
        valid=False,
        code=ApiKeyCode.RATE_LIMITED,
        key_id="key-1",
        rate_limit=RateLimitState(
            limit=100, remaining=0, reset=datetime.now(UTC) + timedelta(seconds=30)
        ),
    )
    limited = await client.verify(KEY)
    assert not limited.valid
    assert limited.code is ApiKeyCode.RATE_LIMITED
    assert not (await client.verify(KEY)).valid
    assert identity.verify_hits[KEY] == 1

    identity.answers[KEY] = valid_answer()
    await asyncio.sleep(0.15)  # limited answers live no longer than negative ones
    assert (await client.verify(KEY)).valid
    assert identity.verify_hits[KEY] == 2


async def test_a_cached_answer_is_not_used_past_its_rate_limit_budget(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer(remaining=2)
    for _ in range(3):  # the first call plus the two it had left
        assert (await client.verify(KEY)).valid
    assert identity.verify_hits[KEY] == 1
    await client.verify(KEY)
    assert identity.verify_hits[KEY] == 2


async def test_concurrent_calls_for_one_key_share_one_request(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer()
    identity.verify_delay_s = 0.05
    answers = await asyncio.gather(*(client.verify(KEY) for _ in range(20)))
    assert all(answer.valid for answer in answers)
    assert identity.verify_hits[KEY] == 1


async def test_a_revocation_during_a_call_is_not_undone_by_its_answer(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer(key_id="key-1")
    identity.verify_delay_s = 0.05
    in_flight = asyncio.create_task(client.verify(KEY))
    await asyncio.sleep(0.02)
    client.evict_key_id("key-1")
    assert (await in_flight).valid
    identity.verify_delay_s = 0
    await client.verify(KEY)
    assert identity.verify_hits[KEY] == 2


async def test_wrong_internal_token_is_a_service_error(identity_url: str) -> None:
    async with ApiKeyClient(identity_url, "not-the-token") as client:
        with pytest.raises(ApiKeyServiceError) as caught:
            await client.verify(KEY)
    assert caught.value.status_code == 503


async def test_identity_unreachable_is_a_service_error() -> None:
    async with ApiKeyClient("http://127.0.0.1:9", INTERNAL_TOKEN, timeout_s=0.5) as client:
        with pytest.raises(ApiKeyServiceError):
            await client.verify(KEY)


@pytest.mark.parametrize("junk", ["", "k" * 513])
async def test_impossible_keys_are_refused_without_asking_identity(
    client: ApiKeyClient, identity: IdentityStub, junk: str
) -> None:
    answer = await client.verify(junk)
    assert answer.code is ApiKeyCode.NOT_FOUND
    assert not identity.verify_hits


async def test_required_scopes_are_checked_against_the_cached_answer(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer()  # scopes: market:read
    assert (await client.verify(KEY, ["market:read"])).code is ApiKeyCode.VALID
    refused = await client.verify(KEY, ["market:read", "market:export"])
    assert (refused.valid, refused.code) == (False, ApiKeyCode.INSUFFICIENT_PERMISSIONS)
    assert refused.key_id == "key-1"
    assert (await client.verify(KEY)).valid is True  # the cached answer itself is unchanged
    assert identity.verify_hits[KEY] == 1


async def test_calls_answered_from_the_cache_are_reported_with_the_next_ask(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer(remaining=3)
    for _ in range(4):  # one ask, then the cached budget of three
        assert (await client.verify(KEY)).valid
    assert identity.costs[KEY] == [1]
    await client.verify(KEY)  # budget spent: identity is asked, and told of the three
    assert identity.costs[KEY] == [1, 4]


async def test_calls_sharing_a_request_are_reported_too(
    client: ApiKeyClient, identity: IdentityStub
) -> None:
    identity.answers[KEY] = valid_answer()
    identity.verify_delay_s = 0.05
    await asyncio.gather(*(client.verify(KEY) for _ in range(5)))
    client.clear()
    await client.verify(KEY)
    # Joiners are counted in the shared request if they came before it left, else in the next.
    assert sum(identity.costs[KEY]) == 6 and len(identity.costs[KEY]) == 2


async def test_unreported_calls_survive_a_failed_ask(identity: IdentityStub) -> None:
    broken = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    async with ApiKeyClient("http://identity", INTERNAL_TOKEN, http=broken) as client:
        client._unreported[api_key_digest(KEY)] = 7
        with pytest.raises(ApiKeyServiceError):
            await client.verify(KEY)
        assert client._unreported[api_key_digest(KEY)] == 7
    await broken.aclose()
