"""What the callback needs to finish a provider sign-in, kept in a sealed, short-lived cookie.

The state, nonce and PKCE verifier of a started sign-in travel in a cookie that only the
callback path receives, AES-GCM sealed (so the browser can neither read nor alter it) with
associated data naming the provider, and carrying its own expiry. No server-side row is left
behind by sign-ins that are never finished.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict, dataclass

from identity.credentials.provider_token_cipher import ProviderTokenCipher, TokenDecryptionError

COOKIE_NAME = "identity_oauth_flow"


class InvalidFlowStateError(Exception):
    """The cookie is missing, forged, expired or from another provider's sign-in."""


@dataclass(frozen=True, slots=True)
class FlowState:
    provider: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    expires_at: int
    # Set when a signed-in user links the provider account to themselves (not a sign-in).
    link_user_id: str | None = None
    link_session_id: str | None = None


def _aad(provider: str) -> bytes:
    return f"identity.oauth_flow:{provider}".encode()


def seal(cipher: ProviderTokenCipher, flow: FlowState) -> str:
    blob = cipher.encrypt(json.dumps(asdict(flow)), aad=_aad(flow.provider))
    return f"{cipher.active_key_id}.{base64.urlsafe_b64encode(blob).decode().rstrip('=')}"


def unseal(cipher: ProviderTokenCipher, cookie: str | None, *, provider: str) -> FlowState:
    if not cookie or "." not in cookie:
        raise InvalidFlowStateError("no sign-in in progress")
    key_id, _, encoded = cookie.rpartition(".")
    try:
        blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        flow = FlowState(**json.loads(cipher.decrypt(blob, key_id=key_id, aad=_aad(provider))))
    except (TokenDecryptionError, ValueError, TypeError) as exc:
        raise InvalidFlowStateError("the sign-in state is not valid") from exc
    if flow.provider != provider or flow.expires_at < time.time():
        raise InvalidFlowStateError("the sign-in state has expired")
    return flow
