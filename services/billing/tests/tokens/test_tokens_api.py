"""The caller's balance and ledger, admin adjustments and referral rewards."""

from __future__ import annotations

import uuid
from typing import Any

from billing.domain import tokens
from billing.models import utc_now
from lib_contracts.identity import ReferralCompleted

from ..helpers import bearer, new_user_id
from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens

ADMIN = new_user_id()


async def _adjust(app: TokensApp, user_id: str, amount: int, **extra: Any) -> Any:
    return await app.http.post(
        "/api/v1/admin/tokens/adjustments",
        json={"userId": user_id, "amount": amount, "reason": "support ticket 42", **extra},
        headers=bearer(ADMIN, "ADMIN"),
    )


async def test_the_balance_shows_all_held_and_available_tokens(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 12, now=utc_now())
    response = await tokens_app.http.get("/api/v1/tokens/balance", headers=bearer(user_id))
    assert response.status_code == 200
    body = response.json()
    assert (body["balance"], body["reserved"], body["available"], body["tier"]) == (
        12,
        0,
        12,
        "FREE",
    )
    missing = await tokens_app.http.get("/api/v1/tokens/balance", headers=bearer(new_user_id()))
    assert missing.status_code == 404
    anonymous = await tokens_app.http.get("/api/v1/tokens/balance")
    assert anonymous.status_code == 401


async def test_transactions_are_mine_newest_first_in_pages_and_filtered_by_type(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 10, now=utc_now())
    for amount in (1, 2, 3, -4):
        assert (await _adjust(tokens_app, user_id, amount)).status_code == 201

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await tokens_app.http.get(
            "/api/v1/tokens/transactions", params=params, headers=bearer(user_id)
        )
        assert page.status_code == 200
        seen += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break

    assert [t["amount"] for t in seen][:4] == [-4, 3, 2, 1]
    assert [t["balanceAfter"] for t in seen][:4] == [12, 16, 13, 11]
    assert len({t["id"] for t in seen}) == len(seen)
    adjustments = await tokens_app.http.get(
        "/api/v1/tokens/transactions", params={"type": "ADMIN_ADJUSTMENT"}, headers=bearer(user_id)
    )
    items = adjustments.json()["items"]
    assert all(t["type"] == "ADMIN_ADJUSTMENT" for t in items)
    assert items[0]["metadata"] == {"reason": "support ticket 42", "adminId": ADMIN}
    bad_type = await tokens_app.http.get(
        "/api/v1/tokens/transactions", params={"type": "FREE_MONEY"}, headers=bearer(user_id)
    )
    assert bad_type.status_code == 422
    bad_cursor = await tokens_app.http.get(
        "/api/v1/tokens/transactions", params={"cursor": "nonsense"}, headers=bearer(user_id)
    )
    assert bad_cursor.status_code == 400


async def test_another_users_transaction_is_404(tokens_app: TokensApp) -> None:
    owner = await user_with_tokens(tokens_app.database, 10, now=utc_now())
    other = await user_with_tokens(tokens_app.database, 10, now=utc_now())
    mine = (await tokens_app.http.get("/api/v1/tokens/transactions", headers=bearer(owner))).json()[
        "items"
    ][0]

    own = await tokens_app.http.get(
        f"/api/v1/tokens/transactions/{mine['id']}", headers=bearer(owner)
    )
    theirs = await tokens_app.http.get(
        f"/api/v1/tokens/transactions/{mine['id']}", headers=bearer(other)
    )
    assert own.status_code == 200
    assert own.json() == mine
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"


async def test_admin_adjustments_are_audited_and_cannot_go_below_zero(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 5, now=utc_now())
    credited = await _adjust(tokens_app, user_id, 10)
    overdrawn = await _adjust(tokens_app, user_id, -16)
    zero = await _adjust(tokens_app, user_id, 0)
    no_reason = await tokens_app.http.post(
        "/api/v1/admin/tokens/adjustments",
        json={"userId": user_id, "amount": 3},
        headers=bearer(ADMIN, "ADMIN"),
    )
    by_user = await tokens_app.http.post(
        "/api/v1/admin/tokens/adjustments",
        json={"userId": user_id, "amount": 3, "reason": "I deserve it"},
        headers=bearer(user_id),
    )

    assert credited.status_code == 201, credited.text
    assert credited.json()["balanceAfter"] == 15
    assert overdrawn.status_code == 402
    assert overdrawn.json()["available"] == 15
    assert (zero.status_code, no_reason.status_code, by_user.status_code) == (422, 422, 403)
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 15
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_balance_and_tier_fields_in_an_adjustment_are_422(tokens_app: TokensApp) -> None:
    user_id = await user_with_tokens(tokens_app.database, 5, now=utc_now())
    for extra in ({"balance": 999}, {"tier": "PREMIUM"}):
        assert (await _adjust(tokens_app, user_id, 1, **extra)).status_code == 422
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 5


async def test_a_referral_credits_the_referrer_once(tokens_app: TokensApp) -> None:
    referrer = await user_with_tokens(tokens_app.database, 0, now=utc_now())
    referee = new_user_id()
    event = ReferralCompleted(
        referral_id=str(uuid.uuid4()),
        referrer_id=referrer,
        referee_id=referee,
        tokens_granted=50,
        completed_at=utc_now(),
    )
    outcomes = []
    for _ in range(2):  # the same referral twice (e.g. re-emitted under a new event id)
        async with tokens_app.uow() as uow:
            outcomes.append(await tokens.reward_referral(uow, event))
            await uow.commit()

    assert outcomes == [True, False]
    assert (await balance_row(tokens_app.database, referrer))["balance"] == 50
    rows = (
        await tokens_app.http.get(
            "/api/v1/tokens/transactions",
            params={"type": "EARN_REFERRAL"},
            headers=bearer(referrer),
        )
    ).json()["items"]
    assert [(r["amount"], r["sourceId"]) for r in rows] == [(50, event.referral_id)]


async def test_packages_on_sale_are_listed_in_order_in_pages(tokens_app: TokensApp) -> None:
    first = await tokens_app.http.get("/api/v1/tokens/packages", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [p["id"] for p in page["items"]] == ["pkg_starter", "pkg_creator"]
    assert page["items"][0] == {
        "id": "pkg_starter",
        "name": "Starter",
        "tokens": 50,
        "priceCents": 499,
        "currency": "usd",
    }
    rest = await tokens_app.http.get(
        "/api/v1/tokens/packages", params={"limit": 2, "cursor": page["nextCursor"]}
    )
    assert [p["id"] for p in rest.json()["items"]] == ["pkg_studio"]
    assert rest.json()["nextCursor"] is None
