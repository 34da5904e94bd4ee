"""The caller's payment methods: attach, list (paged), default, detach; nobody else's."""

from __future__ import annotations

from .conftest import Billing
from .helpers import bearer


async def test_attach_list_default_and_detach(billing: Billing) -> None:
    user_id = await billing.register_user()
    auth = bearer(user_id)
    first = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=auth
    )
    second = await billing.http.post(
        "/api/v1/payment-methods",
        json={"paymentMethodId": "pm_card_chargeCustomerFail"},
        headers=auth,
    )
    assert first.status_code == second.status_code == 201, second.text
    shown = first.json()
    assert (shown["cardBrand"], shown["cardLast4"], shown["isDefault"]) == ("visa", "4242", True)
    assert shown["cardExpMonth"] and shown["cardExpYear"]
    assert (second.json()["cardLast4"], second.json()["isDefault"]) == ("0341", False)

    page = (
        await billing.http.get("/api/v1/payment-methods", params={"limit": 1}, headers=auth)
    ).json()
    assert [m["id"] for m in page["items"]] == [second.json()["id"]]  # newest first
    rest = (
        await billing.http.get(
            "/api/v1/payment-methods",
            params={"limit": 1, "cursor": page["nextCursor"]},
            headers=auth,
        )
    ).json()
    assert [m["id"] for m in rest["items"]] == [shown["id"]] and rest["nextCursor"] is None

    made_default = await billing.http.post(
        f"/api/v1/payment-methods/{second.json()['id']}/default", headers=auth
    )
    assert made_default.json()["isDefault"] is True
    stripe_customer_id = await billing.scalar(
        "SELECT stripe_customer_id FROM customers WHERE user_id = :u", u=user_id
    )
    stripe_pm_of_second = await billing.scalar(
        "SELECT stripe_payment_method_id FROM payment_methods WHERE id = :i",
        i=second.json()["id"],
    )
    customer = await billing.stripe.v1.customers.retrieve_async(stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == stripe_pm_of_second
    listed = (await billing.http.get("/api/v1/payment-methods", headers=auth)).json()["items"]
    assert [m["isDefault"] for m in listed] == [True, False]

    # Detaching the default makes the other one the default.
    gone = await billing.http.delete(f"/api/v1/payment-methods/{second.json()['id']}", headers=auth)
    assert gone.status_code == 204
    listed = (await billing.http.get("/api/v1/payment-methods", headers=auth)).json()["items"]
    assert [(m["id"], m["isDefault"]) for m in listed] == [(shown["id"], True)]
    detached = await billing.stripe.v1.payment_methods.retrieve_async(stripe_pm_of_second)
    assert detached.customer is None


async def test_another_users_payment_method_is_404(billing: Billing) -> None:
    owner = await billing.register_user()
    intruder = await billing.register_user()
    card = await billing.http.post(
        "/api/v1/payment-methods", json={"paymentMethodId": "pm_card_visa"}, headers=bearer(owner)
    )
    card_id = card.json()["id"]
    as_intruder = bearer(intruder)
    assert (
        await billing.http.post(f"/api/v1/payment-methods/{card_id}/default", headers=as_intruder)
    ).status_code == 404
    assert (
        await billing.http.delete(f"/api/v1/payment-methods/{card_id}", headers=as_intruder)
    ).status_code == 404
    listed = (await billing.http.get("/api/v1/payment-methods", headers=as_intruder)).json()
    assert listed["items"] == []
    mine = (await billing.http.get("/api/v1/payment-methods", headers=bearer(owner))).json()
    assert [m["id"] for m in mine["items"]] == [card_id]
    # The intruder's subscription routes only ever reach their own subscription.
    theirs = (await billing.http.get("/api/v1/subscription", headers=as_intruder)).json()
    ours = (await billing.http.get("/api/v1/subscription", headers=bearer(owner))).json()
    assert theirs["id"] != ours["id"]
