"""Vouchers: admins create and list them; users redeem each once; concurrent redemptions
never pass maxUses; expired, inactive and used-up vouchers are clear 4xx answers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from billing.models import utc_now

from ..helpers import bearer, new_user_id
from .conftest import TokensApp
from .helpers import assert_ledger_consistent, balance_row, user_with_tokens

ADMIN = new_user_id()


def _admin() -> dict[str, str]:
    return bearer(ADMIN, "ADMIN")


async def _create(app: TokensApp, **fields: Any) -> dict[str, Any]:
    body = {"code": f"V{uuid.uuid4().hex[:10]}", "value": 25, **fields}
    response = await app.http.post("/api/v1/admin/vouchers", json=body, headers=_admin())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _redeem(app: TokensApp, user_id: str, code: str) -> Any:
    return await app.http.post(
        "/api/v1/vouchers/redeem", json={"code": code}, headers=bearer(user_id)
    )


async def test_a_user_redeems_a_voucher_once(tokens_app: TokensApp) -> None:
    voucher = await _create(tokens_app, maxUses=10)
    user_id = await user_with_tokens(tokens_app.database, 5, now=utc_now())

    first = await _redeem(tokens_app, user_id, voucher["code"].lower())
    second = await _redeem(tokens_app, user_id, voucher["code"])

    assert first.status_code == 200, first.text
    assert (first.json()["tokensGranted"], first.json()["balanceAfter"]) == (25, 30)
    assert second.status_code == 409
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 30
    listed = await tokens_app.http.get(
        "/api/v1/tokens/transactions", params={"type": "EARN_VOUCHER"}, headers=bearer(user_id)
    )
    assert [t["amount"] for t in listed.json()["items"]] == [25]
    assert listed.json()["items"][0]["metadata"]["voucherId"] == voucher["id"]
    await assert_ledger_consistent(tokens_app.database, [user_id])


async def test_concurrent_redemptions_never_exceed_max_uses(tokens_app: TokensApp) -> None:
    voucher = await _create(tokens_app, maxUses=5, value=3)
    users = [await user_with_tokens(tokens_app.database, 0, now=utc_now()) for _ in range(30)]

    # Every user twice at once: 60 attempts for 5 uses.
    responses = await asyncio.gather(
        *(_redeem(tokens_app, user_id, voucher["code"]) for user_id in users + users)
    )

    codes = [r.status_code for r in responses]
    assert codes.count(200) == 5, codes
    assert set(codes) <= {200, 409}
    async with tokens_app.database.engine.connect() as conn:
        uses, status = (
            await conn.execute(
                text("SELECT current_uses, status FROM vouchers WHERE id = :id"),
                {"id": voucher["id"]},
            )
        ).one()
        redemptions = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT user_id) FROM voucher_redemptions WHERE voucher_id = :id"
                ),
                {"id": voucher["id"]},
            )
        ).scalar_one()
    assert (uses, status, redemptions) == (5, "DEPLETED", 5)
    balances = [(await balance_row(tokens_app.database, u))["balance"] for u in users]
    assert sorted(balances, reverse=True)[:6] == [3, 3, 3, 3, 3, 0]
    await assert_ledger_consistent(tokens_app.database, users)


async def test_expired_inactive_used_up_and_unknown_vouchers_are_refused(
    tokens_app: TokensApp,
) -> None:
    user_id = await user_with_tokens(tokens_app.database, 0, now=utc_now())
    other = await user_with_tokens(tokens_app.database, 0, now=utc_now())
    expired = await _create(tokens_app, expiresAt=(utc_now() - timedelta(minutes=1)).isoformat())
    inactive = await _create(tokens_app, status="INACTIVE")
    single = await _create(tokens_app, maxUses=1)
    assert (await _redeem(tokens_app, other, single["code"])).status_code == 200

    answers = {
        "expired": await _redeem(tokens_app, user_id, expired["code"]),
        "inactive": await _redeem(tokens_app, user_id, inactive["code"]),
        "used up": await _redeem(tokens_app, user_id, single["code"]),
        "unknown": await _redeem(tokens_app, user_id, "NO-SUCH-CODE"),
    }

    assert {k: r.status_code for k, r in answers.items()} == {
        "expired": 410,
        "inactive": 409,
        "used up": 409,
        "unknown": 404,
    }
    assert answers["expired"].json()["reason"] == "expired"
    assert answers["used up"].json()["reason"] == "used up"
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 0


async def test_body_fields_other_than_the_code_are_422_and_change_nothing(
    tokens_app: TokensApp,
) -> None:
    voucher = await _create(tokens_app)
    user_id = await user_with_tokens(tokens_app.database, 0, now=utc_now())
    for extra in ({"balance": 1000}, {"tier": "PREMIUM"}, {"userId": new_user_id()}):
        response = await tokens_app.http.post(
            "/api/v1/vouchers/redeem",
            json={"code": voucher["code"], **extra},
            headers=bearer(user_id),
        )
        assert response.status_code == 422, extra
    assert (await balance_row(tokens_app.database, user_id))["balance"] == 0


async def test_only_admins_create_and_list_vouchers(tokens_app: TokensApp) -> None:
    user = bearer(new_user_id())
    created = await tokens_app.http.post(
        "/api/v1/admin/vouchers", json={"code": "NOPE1234", "value": 5}, headers=user
    )
    listed = await tokens_app.http.get("/api/v1/admin/vouchers", headers=user)
    assert (created.status_code, listed.status_code) == (403, 403)


async def test_admins_list_vouchers_newest_first_in_pages(tokens_app: TokensApp) -> None:
    made = [await _create(tokens_app, status="INACTIVE") for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "INACTIVE", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await tokens_app.http.get("/api/v1/admin/vouchers", params=params, headers=_admin())
        ).json()
        seen += [v["id"] for v in page["items"]]
        assert all(v["status"] == "INACTIVE" for v in page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen[:3] == [v["id"] for v in reversed(made)]
    assert len(seen) == len(set(seen))


async def test_a_taken_code_is_409(tokens_app: TokensApp) -> None:
    voucher = await _create(tokens_app)
    again = await tokens_app.http.post(
        "/api/v1/admin/vouchers", json={"code": voucher["code"], "value": 1}, headers=_admin()
    )
    assert again.status_code == 409
