"""Listing and unlinking one's provider accounts: /api/v1/users/me/accounts."""

from __future__ import annotations

import uuid

import httpx

from .helpers import bearer, provider_sign_in, register, unique_email
from .oidc_provider import Login, OidcTestProvider


def _login(email: str) -> Login:
    return Login(subject=f"sub-{uuid.uuid4().hex}", email=email, email_verified=True)


async def test_list_and_unlink_down_to_the_last_way_to_sign_in(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    email = unique_email("linked")
    first = await provider_sign_in(oauth_client, oidc_provider, "trusted-id", _login(email))
    assert first.status_code == 200, first.text
    tokens = first.json()
    # The same person at a second provider, linked from their account.
    second = await _link(oauth_client, oidc_provider, "plain-id", _login(email), tokens)
    assert second.status_code == 200, second.text

    page = await oauth_client.get(
        "/api/v1/users/me/accounts", params={"limit": 1}, headers=bearer(tokens)
    )
    assert page.status_code == 200
    assert [a["provider"] for a in page.json()["items"]] == ["plain-id"]
    rest = await oauth_client.get(
        "/api/v1/users/me/accounts",
        params={"limit": 1, "cursor": page.json()["nextCursor"]},
        headers=bearer(tokens),
    )
    assert [a["provider"] for a in rest.json()["items"]] == ["trusted-id"]
    assert rest.json()["nextCursor"] is None
    item = rest.json()["items"][0]
    assert set(item) == {"id", "type", "provider", "providerAccountId", "scope", "createdAt"}
    for issued in oidc_provider.issued:
        for secret in (issued.access_token, issued.refresh_token, issued.id_token):
            assert secret not in page.text and secret not in rest.text

    unlinked = await oauth_client.delete(
        f"/api/v1/users/me/accounts/{item['id']}", headers=bearer(tokens)
    )
    assert unlinked.status_code == 204
    last = page.json()["items"][0]["id"]
    refused = await oauth_client.delete(f"/api/v1/users/me/accounts/{last}", headers=bearer(tokens))
    assert refused.status_code == 409
    assert "last way to sign in" in refused.json()["detail"]
    remaining = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(tokens))
    assert [a["id"] for a in remaining.json()["items"]] == [last]


async def test_a_user_with_a_password_may_unlink_their_only_account(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    me = await register(oauth_client)
    linked = await _link(oauth_client, oidc_provider, "trusted-id", _login(unique_email()), me)
    assert linked.status_code == 200, linked.text
    accounts = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(me))
    (account,) = accounts.json()["items"]
    response = await oauth_client.delete(
        f"/api/v1/users/me/accounts/{account['id']}", headers=bearer(me)
    )
    assert response.status_code == 204


async def test_another_users_account_is_404(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    owner = await provider_sign_in(
        oauth_client, oidc_provider, "plain-id", _login(unique_email("owner"))
    )
    owner_accounts = await oauth_client.get(
        "/api/v1/users/me/accounts", headers=bearer(owner.json())
    )
    (account,) = owner_accounts.json()["items"]
    intruder = await register(oauth_client)
    response = await oauth_client.delete(
        f"/api/v1/users/me/accounts/{account['id']}", headers=bearer(intruder)
    )
    assert response.status_code == 404
    unknown = await oauth_client.delete(
        f"/api/v1/users/me/accounts/{uuid.uuid4()}", headers=bearer(intruder)
    )
    assert unknown.status_code == 404
    mine = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(intruder))
    assert mine.json()["items"] == []
    still = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(owner.json()))
    assert [a["id"] for a in still.json()["items"]] == [account["id"]]


async def test_accounts_need_a_signed_in_user(oauth_client: httpx.AsyncClient) -> None:
    assert (await oauth_client.get("/api/v1/users/me/accounts")).status_code == 401


async def _link(
    client: httpx.AsyncClient,
    provider: OidcTestProvider,
    name: str,
    login: Login,
    tokens: dict[str, str],
) -> httpx.Response:
    """Start linking as the signed-in user, pass the provider, come back to the callback."""
    provider.next_login = login
    started = await client.post(f"/api/v1/users/me/accounts/{name}/link", headers=bearer(tokens))
    assert started.status_code == 200, started.text
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(started.json()["authorizationUrl"])
    assert at_provider.status_code == 302, at_provider.text
    return await client.get(at_provider.headers["location"])


async def test_a_signed_in_user_links_an_untrusted_provider_then_signs_in_with_it(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    email = unique_email("linker")
    me = await register(oauth_client, email)
    # The provider knows them under another, unverified address: linking is their own choice.
    login = Login(
        subject=f"sub-{uuid.uuid4().hex}", email=unique_email("alt"), email_verified=False
    )
    linked = await _link(oauth_client, oidc_provider, "plain-id", login, me)
    assert linked.status_code == 200, linked.text
    assert linked.json()["provider"] == "plain-id"
    assert linked.json()["providerAccountId"] == login.subject
    assert "accessToken" not in linked.json()

    signed_in = await provider_sign_in(oauth_client, oidc_provider, "plain-id", login)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["id"] == me["user"]["id"]


async def test_a_provider_account_linked_to_someone_else_cannot_be_linked(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    login = _login(unique_email("taken"))
    owner = await provider_sign_in(oauth_client, oidc_provider, "plain-id", login)
    assert owner.status_code == 200
    other = await register(oauth_client)
    response = await _link(oauth_client, oidc_provider, "plain-id", login, other)
    assert response.status_code == 409
    mine = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(other))
    assert mine.json()["items"] == []


async def test_linking_stops_when_the_session_that_started_it_ends(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    me = await register(oauth_client)
    oidc_provider.next_login = _login(unique_email("late"))
    started = await oauth_client.post("/api/v1/users/me/accounts/plain-id/link", headers=bearer(me))
    logout = await oauth_client.post(
        "/api/v1/auth/logout", json={"refreshToken": me["refreshToken"]}
    )
    assert logout.status_code == 204
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(started.json()["authorizationUrl"])
    response = await oauth_client.get(at_provider.headers["location"])
    assert response.status_code == 401


async def test_linking_needs_a_signed_in_user(oauth_client: httpx.AsyncClient) -> None:
    response = await oauth_client.post("/api/v1/users/me/accounts/plain-id/link")
    assert response.status_code == 401
