"""Sweeps over every identity route, driven by its OpenAPI document so a new route is covered
(or the sweep fails until it is): another user's object is 404, extra body fields are 422 and
change nothing, no response shows a stored hash or a secret other than the one it issues."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from identity.mail.sink import MailSink

from .api_key_helpers import INTERNAL, create_key, execute, open_trial, rows, trial_key, verify
from .helpers import (
    PASSWORD,
    RESET_SUBJECT,
    VERIFY_SUBJECT,
    bearer,
    identity_rows,
    mailed_token,
    provider_sign_in,
    register,
    unique_email,
)
from .oidc_provider import Login, OidcTestProvider

_PARAM = re.compile(r"\{(\w+)\}")


def _routes(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
    ]


@dataclass
class Person:
    grant: dict[str, Any]
    user_id: str
    email: str
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.grant)


async def _verified(client: httpx.AsyncClient, app: FastAPI) -> Person:
    email = unique_email("sweep")
    grant = await register(client, email)
    await execute(
        app, "UPDATE users SET email_verified = now() WHERE id = :id", id=grant["user"]["id"]
    )
    return Person(grant, grant["user"]["id"], email.lower())


async def _owner_of_everything(
    client: httpx.AsyncClient, app: FastAPI, provider: OidcTestProvider
) -> Person:
    """A verified user with a linked provider account, two sessions, a key and a trial key;
    `ids` maps each route parameter to one of their objects."""
    owner = await _verified(client, app)
    linked = await provider_sign_in(
        client,
        provider,
        "trusted-id",
        Login(subject=f"sub-{uuid.uuid4().hex}", email=owner.email),
    )
    assert linked.status_code == 200 and linked.json()["user"]["id"] == owner.user_id
    as_owner = {**owner.headers, "user_id": owner.user_id}
    key = await create_key(client, as_owner)
    workspace = await open_trial(client, as_owner)
    trial = await trial_key(client, as_owner, workspace["id"])
    sessions = (await client.get("/api/v1/users/me/sessions", headers=owner.headers)).json()
    accounts = (await client.get("/api/v1/users/me/accounts", headers=owner.headers)).json()
    owner.ids = {
        "session_id": sessions["items"][0]["id"],
        "account_id": accounts["items"][0]["id"],
        "key_id": key["id"],
        "workspace_id": workspace["id"],
        "trial_key_id": trial["id"],
        "key": key["key"],
        "trial_key": trial["key"],
    }
    return owner


async def test_another_users_objects_are_404_on_every_route_and_stay_as_they_were(
    oauth_client: httpx.AsyncClient, oauth_app: FastAPI, oidc_provider: OidcTestProvider
) -> None:
    client = oauth_client
    owner = await _owner_of_everything(client, oauth_app, oidc_provider)
    intruder = await _verified(client, oauth_app)
    swept = []
    for method, path, _ in _routes(oauth_app):
        params = _PARAM.findall(path)
        # Admin routes take any user by design (and are 403 to a user); `provider` is a name.
        if not params or path.startswith("/api/v1/admin/") or params == ["provider"]:
            continue
        ids = {**owner.ids}
        if path.startswith("/api/v1/trials/") and path.count("{") == 2:
            ids["key_id"] = owner.ids["trial_key_id"]
        missing = set(params) - set(ids)
        assert not missing, f"{method} {path}: the sweep has no object for {missing}"
        url = _PARAM.sub(lambda m, ids=ids: ids[m.group(1)], path)
        body = {"label": "x"} if path.endswith("/api-keys") and method == "POST" else None
        response = await client.request(method, url, json=body, headers=intruder.headers)
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        swept.append((method, path))
    assert len(swept) >= 12, swept

    # Nothing of the owner's changed: keys verify, sessions and the account are there.
    assert (await verify(client, owner.ids["key"]))["code"] == "VALID"
    assert (await verify(client, owner.ids["trial_key"]))["code"] == "VALID"
    sessions = (await client.get("/api/v1/users/me/sessions", headers=owner.headers)).json()
    assert owner.ids["session_id"] in {s["id"] for s in sessions["items"]}
    accounts = (await client.get("/api/v1/users/me/accounts", headers=owner.headers)).json()
    assert [a["id"] for a in accounts["items"]] == [owner.ids["account_id"]]
    trial = await client.get(f"/api/v1/trials/{owner.ids['workspace_id']}", headers=owner.headers)
    assert trial.json()["status"] == "active"


# Fields a caller might slip in to gain something; each is 422 wherever it is not a field.
_PRIVILEGED = {
    "role": "SUPER_ADMIN",
    "status": "active",
    "emailVerified": "2020-01-01T00:00:00Z",
    "tier": "enterprise",
    "userId": "someone-else",
    "balance": 10**6,
}
# Not swept, with the reason: the OIDC callback and authorize take no body; the internal
# verify route is service-to-service (no end-user credential reaches it) and has no field
# that grants anything.
_NO_SWEEP = {("POST", "/internal/api-keys/verify")}


async def test_extra_body_fields_are_422_on_every_route_and_change_nothing(
    oauth_client: httpx.AsyncClient,
    oauth_app: FastAPI,
    oidc_provider: OidcTestProvider,
    mail_sink: MailSink,
) -> None:
    client = oauth_client
    owner = await _owner_of_everything(client, oauth_app, oidc_provider)
    admin = await _verified(client, oauth_app)
    await execute(
        oauth_app, "UPDATE users SET role = 'SUPER_ADMIN' WHERE id = :id", id=admin.user_id
    )
    admin.grant = (
        await client.post("/api/v1/auth/login", json={"email": admin.email, "password": PASSWORD})
    ).json()
    verify_token = await mailed_token(mail_sink, owner.email, VERIFY_SUBJECT)
    assert (
        await client.post("/api/v1/auth/password-reset", json={"email": owner.email})
    ).status_code == 202
    reset_token = await mailed_token(mail_sink, owner.email, RESET_SUBJECT)
    workspace = owner.ids["workspace_id"]
    # A valid body (and the headers it needs) for every route that takes one.
    valid: dict[tuple[str, str], tuple[dict[str, Any], dict[str, str]]] = {
        ("POST", "/api/v1/auth/register"): (
            {"email": unique_email("extra"), "password": PASSWORD},
            {},
        ),
        ("POST", "/api/v1/auth/login"): ({"email": owner.email, "password": PASSWORD}, {}),
        ("POST", "/api/v1/auth/refresh"): ({"refreshToken": owner.grant["refreshToken"]}, {}),
        ("POST", "/api/v1/auth/logout"): ({"refreshToken": owner.grant["refreshToken"]}, {}),
        ("POST", "/api/v1/auth/verify-email"): ({"token": verify_token}, {}),
        ("POST", "/api/v1/auth/password-reset"): ({"email": owner.email}, {}),
        ("POST", "/api/v1/auth/password-reset/confirm"): (
            {"token": reset_token, "newPassword": "another horse battery"},
            {},
        ),
        ("PATCH", "/api/v1/users/me"): ({"name": "New"}, owner.headers),
        ("POST", "/api/v1/users/me/password"): (
            {"currentPassword": PASSWORD, "newPassword": "another horse battery"},
            owner.headers,
        ),
        ("PATCH", "/api/v1/admin/users/{user_id}/role"): ({"role": "ADMIN"}, admin.headers),
        ("POST", "/api/v1/api-keys"): ({"name": "n", "scopes": []}, owner.headers),
        ("POST", "/api/v1/trials"): (
            {"name": "T", "slug": f"t-{uuid.uuid4().hex[:8]}", "tier": "standard"},
            owner.headers,
        ),
        ("POST", "/api/v1/trials/{workspace_id}/api-keys"): ({"label": "l"}, owner.headers),
    }
    with_body = {
        (method, path)
        for method, path, operation in _routes(oauth_app)
        if "requestBody" in operation and (method, path) not in _NO_SWEEP
    }
    assert with_body == set(valid), "a route with a body is missing from (or gone from) the sweep"

    before = await identity_rows(oauth_app)
    for (method, path), (body, headers) in valid.items():
        url = path.replace("{user_id}", owner.user_id).replace("{workspace_id}", workspace)
        extras = {k: v for k, v in _PRIVILEGED.items() if k not in body}
        response = await client.request(method, url, json={**body, **extras}, headers=headers)
        assert response.status_code == 422, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        refused = {e["location"][-1] for e in response.json()["errors"]}
        assert refused == set(extras), f"{method} {path}: {refused}"
    assert await identity_rows(oauth_app) == before


async def test_no_response_shows_a_stored_hash_or_a_secret_it_did_not_issue(
    oauth_client: httpx.AsyncClient,
    oauth_app: FastAPI,
    oidc_provider: OidcTestProvider,
    mail_sink: MailSink,
) -> None:
    client = oauth_client
    responses: list[tuple[str, httpx.Response]] = []
    # Secrets in the order they were issued, each with the response that issued it.
    issued: list[tuple[str, int]] = []

    async def call(method: str, url: str, issues: tuple[str, ...] = (), **kw: Any) -> Any:
        response = await client.request(method, url, **kw)
        assert response.is_success, f"{method} {url}: {response.text}"
        responses.append((f"{method} {url}", response))
        body = response.json() if response.content else {}
        for name in issues:
            issued.append((body[name], len(responses) - 1))
        return body

    email = unique_email("secrets")
    grant = await call(
        "POST",
        "/api/v1/auth/register",
        ("accessToken", "refreshToken"),
        json={"email": email, "password": PASSWORD},
    )
    verify_token = await mailed_token(mail_sink, email, VERIFY_SUBJECT)
    issued.append((verify_token, -1))  # mailed: no response may carry it
    await call("POST", "/api/v1/auth/verify-email", json={"token": verify_token})
    login = await call(
        "POST",
        "/api/v1/auth/login",
        ("accessToken", "refreshToken"),
        json={"email": email, "password": PASSWORD},
    )
    refreshed = await call(
        "POST",
        "/api/v1/auth/refresh",
        ("accessToken", "refreshToken"),
        json={"refreshToken": login["refreshToken"]},
    )
    me = bearer(refreshed)
    signed_in = await provider_sign_in(
        client, oidc_provider, "trusted-id", Login(subject=f"sub-{uuid.uuid4().hex}", email=email)
    )
    assert signed_in.status_code == 200
    responses.append(("oidc callback", signed_in))
    issued += [(signed_in.json()[n], len(responses) - 1) for n in ("accessToken", "refreshToken")]
    for tokens in oidc_provider.issued:  # the provider's tokens: no response may carry them
        issued += [(tokens.access_token, -1), (tokens.refresh_token, -1), (tokens.id_token, -1)]
    key = await call("POST", "/api/v1/api-keys", ("key",), json={"name": "k"}, headers=me)
    rotated = await call("POST", f"/api/v1/api-keys/{key['id']}/rotate", ("key",), headers=me)
    workspace = await call(
        "POST",
        "/api/v1/trials",
        json={"name": "T", "slug": f"t-{uuid.uuid4().hex[:8]}"},
        headers=me,
    )
    trial = await call(
        "POST", f"/api/v1/trials/{workspace['id']}/api-keys", ("key",), json={}, headers=me
    )
    await call("POST", "/internal/api-keys/verify", json={"key": rotated["key"]}, headers=INTERNAL)
    await call("POST", "/internal/api-keys/verify", json={"key": trial["key"]}, headers=INTERNAL)
    for url in (
        "/api/v1/users/me",
        "/api/v1/users/me/sessions",
        "/api/v1/users/me/accounts",
        "/api/v1/users/me/referrals",
        "/api/v1/api-keys",
        f"/api/v1/api-keys/{key['id']}",
        f"/api/v1/api-keys/{rotated['id']}/usage",
        "/api/v1/trials",
        f"/api/v1/trials/{workspace['id']}",
        f"/api/v1/trials/{workspace['id']}/api-keys",
    ):
        await call("GET", url, headers=me)
    await call("PATCH", "/api/v1/users/me", json={"name": "N"}, headers=me)
    await call("POST", f"/api/v1/api-keys/{rotated['id']}/revoke", headers=me)
    await call("POST", f"/api/v1/trials/{workspace['id']}/cancel", headers=me)
    await call("POST", "/api/v1/auth/password-reset", json={"email": email})
    issued.append((await mailed_token(mail_sink, email, RESET_SUBJECT), -1))
    await call("POST", "/api/v1/auth/logout", json={"refreshToken": grant["refreshToken"]})
    assert len(issued) >= 15

    stored: list[str] = []
    for found in await rows(
        oauth_app,
        "SELECT password_hash AS v FROM users WHERE password_hash IS NOT NULL "
        "UNION ALL SELECT session_token FROM sessions "
        "UNION ALL SELECT token_hash FROM session_token_history "
        "UNION ALL SELECT token FROM verification_tokens "
        "UNION ALL SELECT key_hash FROM api_keys UNION ALL SELECT key_hash FROM trial_api_keys "
        "UNION ALL SELECT encode(access_token, 'base64') FROM accounts "
        "WHERE access_token IS NOT NULL",
    ):
        stored.append(found["v"])
    assert len(stored) >= 10
    for n, (what, response) in enumerate(responses):
        for value in stored:
            assert value not in response.text, f"{what} shows a stored hash"
        for secret, issuing in issued:
            if issuing != n:
                assert secret not in response.text, f"{what} shows a secret it did not issue"


pytestmark = pytest.mark.usefixtures("mail_sink")
