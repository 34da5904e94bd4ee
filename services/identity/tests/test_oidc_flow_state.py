"""The sealed cookie that carries a provider sign-in's state, nonce and PKCE verifier."""

from __future__ import annotations

import os
import time

import pytest

from identity.credentials.provider_token_cipher import ProviderTokenCipher
from identity.oidc.flow_state import FlowState, InvalidFlowStateError, seal, unseal

CIPHER = ProviderTokenCipher({"k1": os.urandom(32)}, "k1")


def _flow(*, expires_in_s: int = 600, provider: str = "corp") -> FlowState:
    return FlowState(
        provider=provider,
        state="the-state",
        nonce="the-nonce",
        code_verifier="the-verifier",
        redirect_uri="https://id.example.com/api/v1/auth/oauth/corp/callback",
        expires_at=int(time.time()) + expires_in_s,
        link_user_id="user-1",
        link_session_id="session-1",
    )


def test_a_sealed_flow_opens_for_its_provider_and_shows_nothing() -> None:
    flow = _flow()
    cookie = seal(CIPHER, flow)
    for secret in ("the-state", "the-nonce", "the-verifier", "user-1"):
        assert secret not in cookie
    assert unseal(CIPHER, cookie, provider="corp") == flow


def test_an_expired_forged_or_foreign_flow_is_refused() -> None:
    with pytest.raises(InvalidFlowStateError):
        unseal(CIPHER, seal(CIPHER, _flow(expires_in_s=-1)), provider="corp")
    with pytest.raises(InvalidFlowStateError):
        unseal(CIPHER, seal(CIPHER, _flow()), provider="other")
    cookie = seal(CIPHER, _flow())
    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    for bad in (None, "", "no-dot", tampered, "k9." + cookie.split(".", 1)[1]):
        with pytest.raises(InvalidFlowStateError):
            unseal(CIPHER, bad, provider="corp")
    other_key = ProviderTokenCipher({"k1": os.urandom(32)}, "k1")
    with pytest.raises(InvalidFlowStateError):
        unseal(other_key, cookie, provider="corp")
