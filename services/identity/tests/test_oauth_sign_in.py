"""Sign-in with an OpenID Connect provider, end to end: identity talks to the test provider
over HTTP (discovery, JWKS, token endpoint) through authlib."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .helpers import bearer, provider_sign_in, register, unique_email
from .oidc_provider import Login, OidcTestProvider


def _login(email: str | None = None, *, verified: bool = True, name: str = "Grace") -> Login:
    return Login(
        subject=f"sub-{uuid.uuid4().hex}",
        email=email if email is not None else unique_email("oidc"),
        email_verified=verified,
        name=name,
    )


async def _rows(app: FastAPI, sql: str, **params: Any) -> list[Any]:
    async with app.state.database.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).mappings())


async def test_authorize_redirects_with_state_nonce_and_pkce(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    response = await oauth_client.get("/api/v1/auth/oauth/trusted-id/authorize")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["identity-test-client"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["redirect_uri"] == ["http://identity/api/v1/auth/oauth/trusted-id/callback"]
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # The sealed cookie does not show the state, nonce or verifier.
    assert query["state"][0] not in cookie and query["nonce"][0] not in cookie


async def test_unknown_provider_is_404(oauth_client: httpx.AsyncClient) -> None:
    response = await oauth_client.get("/api/v1/auth/oauth/nope/authorize")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_new_user_signs_up_then_comes_back(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider, oauth_app: FastAPI
) -> None:
    login = _login(name="Grace Hopper")
    first = await provider_sign_in(oauth_client, oidc_provider, "plain-id", login)
    assert first.status_code == 200, first.text
    body = first.json()
    user = body["user"]
    assert user["email"] == login.email.lower()
    # An untrusted provider's "verified" does not verify the email here.
    assert user["emailVerified"] is None
    assert user["name"] == "Grace Hopper"
    assert body["accessToken"] and body["refreshToken"]
    # The provider's tokens are never handed out.
    assert not any(t.access_token in first.text for t in oidc_provider.issued)

    me = await oauth_client.get("/api/v1/users/me", headers=bearer(body))
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    registered = await _rows(
        oauth_app,
        "SELECT envelope FROM outbox WHERE subject = :id AND event_type = :type",
        id=user["id"],
        type="identity.user.registered",
    )
    assert len(registered) == 1
    assert registered[0]["envelope"]["data"]["email"] == login.email.lower()

    again = await provider_sign_in(oauth_client, oidc_provider, "plain-id", login)
    assert again.status_code == 200, again.text
    assert again.json()["user"]["id"] == user["id"]
    assert again.json()["refreshToken"] != body["refreshToken"]
    accounts = await _rows(
        oauth_app, "SELECT provider, token_key_id FROM accounts WHERE user_id = :id", id=user["id"]
    )
    assert [dict(a) for a in accounts] == [{"provider": "plain-id", "token_key_id": "dev-aesgcm-1"}]
    audit = await _rows(
        oauth_app,
        "SELECT action FROM audit_logs WHERE user_id = :id ORDER BY created_at",
        id=user["id"],
    )
    assert [a["action"] for a in audit] == ["ACCOUNT_LINKED", "LOGIN", "LOGIN"]


async def test_a_trusted_provider_verifies_the_email_only_when_it_says_so(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    verified = await provider_sign_in(oauth_client, oidc_provider, "trusted-id", _login())
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["emailVerified"] is not None
    unverified = await provider_sign_in(
        oauth_client, oidc_provider, "trusted-id", _login(verified=False)
    )
    assert unverified.status_code == 200, unverified.text
    assert unverified.json()["user"]["emailVerified"] is None


async def _verified_user(app: FastAPI, client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    """A password user whose email is verified (as the email verification flow would do)."""
    user = await register(client, email)
    async with app.state.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET email_verified = now() WHERE id = :id"),
            {"id": user["user"]["id"]},
        )
    return user


async def test_a_trusted_provider_links_to_the_user_with_that_verified_email(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider, oauth_app: FastAPI
) -> None:
    email = unique_email("trusted")
    existing = await _verified_user(oauth_app, oauth_client, email)
    response = await provider_sign_in(oauth_client, oidc_provider, "trusted-id", _login(email))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == existing["user"]["id"]
    linked = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(existing))
    assert [a["provider"] for a in linked.json()["items"]] == ["trusted-id"]


async def test_a_trusted_provider_does_not_link_to_a_user_whose_email_is_unverified(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    # Someone registered the address without proving it is theirs: its owner, arriving from
    # a trusted provider, must not end up sharing that account.
    email = unique_email("squatted")
    squatter = await register(oauth_client, email)
    response = await provider_sign_in(oauth_client, oidc_provider, "trusted-id", _login(email))
    assert response.status_code == 409
    linked = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(squatter))
    assert linked.json()["items"] == []


async def test_an_untrusted_provider_may_not_link_by_email(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider, oauth_app: FastAPI
) -> None:
    email = unique_email("untrusted")
    existing = await _verified_user(oauth_app, oauth_client, email)
    response = await provider_sign_in(oauth_client, oidc_provider, "plain-id", _login(email))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "link" in response.json()["detail"]
    linked = await oauth_client.get("/api/v1/users/me/accounts", headers=bearer(existing))
    assert linked.json()["items"] == []
    refused = await _rows(
        oauth_app,
        "SELECT metadata FROM audit_logs WHERE user_id = :id AND action = 'ACCOUNT_LINK_REFUSED'",
        id=existing["user"]["id"],
    )
    assert [r["metadata"] for r in refused] == [{"provider": "plain-id"}]


async def test_a_trusted_provider_with_an_unverified_email_may_not_link(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider, oauth_app: FastAPI
) -> None:
    email = unique_email("unverified")
    await _verified_user(oauth_app, oauth_client, email)
    login = _login(email, verified=False)
    response = await provider_sign_in(oauth_client, oidc_provider, "trusted-id", login)
    assert response.status_code == 409


async def test_a_callback_whose_state_does_not_match_is_refused(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    oidc_provider.next_login = _login()
    start = await oauth_client.get("/api/v1/auth/oauth/plain-id/authorize")
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"])
    callback = urlsplit(at_provider.headers["location"])
    code = parse_qs(callback.query)["code"][0]
    path = "/api/v1/auth/oauth/plain-id/callback"
    forged = await oauth_client.get(path, params={"code": code, "state": "attacker-state"})
    assert forged.status_code == 400
    assert forged.json()["title"] == "Invalid sign-in state"

    # Without the flow cookie (another browser), even the right state is refused.
    state = parse_qs(callback.query)["state"][0]
    transport = oauth_client._transport  # the same app, a browser without the cookie
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as other:
        stolen = await other.get(path, params={"code": code, "state": state})
    assert stolen.status_code == 400


async def test_a_flow_cookie_of_another_provider_is_refused(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    oidc_provider.next_login = _login()
    start = await oauth_client.get("/api/v1/auth/oauth/trusted-id/authorize")
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(start.headers["location"])
    query = parse_qs(urlsplit(at_provider.headers["location"]).query)
    cookie = start.cookies["identity_oauth_flow"]
    response = await oauth_client.get(
        "/api/v1/auth/oauth/plain-id/callback",
        params={"code": query["code"][0], "state": query["state"][0]},
        headers={"Cookie": f"identity_oauth_flow={cookie}"},
    )
    assert response.status_code == 400


async def test_an_id_token_with_the_wrong_nonce_is_refused(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider, oauth_app: FastAPI
) -> None:
    oidc_provider.id_token_mode = "wrong_nonce"
    login = _login()
    response = await provider_sign_in(oauth_client, oidc_provider, "plain-id", login)
    assert response.status_code == 401, response.text
    assert not await _rows(
        oauth_app, "SELECT id FROM users WHERE email = :e", e=login.email.lower()
    )


async def test_a_tampered_id_token_is_refused(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    oidc_provider.id_token_mode = "tampered"
    response = await provider_sign_in(oauth_client, oidc_provider, "plain-id", _login())
    assert response.status_code == 401, response.text


async def test_an_id_token_signed_by_another_key_is_refused(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    oidc_provider.id_token_mode = "foreign_key"
    response = await provider_sign_in(oauth_client, oidc_provider, "plain-id", _login())
    assert response.status_code == 401, response.text


async def test_a_declined_sign_in_is_a_400(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    start = await oauth_client.get("/api/v1/auth/oauth/plain-id/authorize")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await oauth_client.get(
        "/api/v1/auth/oauth/plain-id/callback",
        params={"error": "access_denied", "state": state},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Sign-in not granted"


async def test_an_unreachable_provider_is_a_502(oauth_client: httpx.AsyncClient) -> None:
    response = await oauth_client.get("/api/v1/auth/oauth/down-id/authorize")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_oauth_users_keys_follow_their_email_verification(
    oauth_client: httpx.AsyncClient, oidc_provider: OidcTestProvider
) -> None:
    """Keys of a user a provider created are `active` only if the email counts as verified
    (a trusted provider said so); otherwise `pending_verification`, and verify says so."""

    async def key_status(provider: str, verified: bool) -> tuple[Any, str, str]:
        signed_in = await provider_sign_in(
            oauth_client, oidc_provider, provider, _login(verified=verified)
        )
        assert signed_in.status_code == 200, signed_in.text
        created = await oauth_client.post(
            "/api/v1/api-keys", json={"name": "k"}, headers=bearer(signed_in.json())
        )
        assert created.status_code == 201, created.text
        answer = await oauth_client.post(
            "/internal/api-keys/verify",
            json={"key": created.json()["key"]},
            headers={"X-Internal-Token": "internal-dev-token"},
        )
        verified_at = signed_in.json()["user"]["emailVerified"]
        return verified_at, created.json()["status"], answer.json()["code"]

    verified_at, status, code = await key_status("trusted-id", verified=True)
    assert verified_at is not None and (status, code) == ("active", "VALID")
    verified_at, status, code = await key_status("trusted-id", verified=False)
    assert verified_at is None and (status, code) == (
        "pending_verification",
        "PENDING_VERIFICATION",
    )
    # An untrusted provider's word on the email does not count: verified by the mailed link.
    verified_at, status, code = await key_status("plain-id", verified=True)
    assert verified_at is None and (status, code) == (
        "pending_verification",
        "PENDING_VERIFICATION",
    )
