"""The internal verify route's hot path: look a presented key up and count the call.

One statement, one round trip: the key row (a user's key, or a trial key with its workspace),
and, only when the key may be used, the call counted in its minute and day windows
(`INSERT ... ON CONFLICT DO UPDATE ... RETURNING count`, shared by every identity replica;
by the request's `cost`: the calls a consumer answered from its cache are counted too) and
`last_used_at` refreshed when it is more than a minute old (not a write per call).

It runs on a plain asyncpg pool of its own (no SQLAlchemy, no ORM objects; asyncpg prepares
each statement once per connection) whose commits do not wait for the WAL flush: a crash may
forget the last moments of counting and of `last_used_at`, which the limits can afford; the
pool writes nothing else.

Windows are fixed UTC minutes and days. A call refused as rate limited still counts in its
window (a client hammering a limited key stays limited until the window resets).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from identity.config import IdentitySettings, RateLimit
from identity.credentials.api_key_secrets import ApiKeyKind, kind_of
from identity.credentials.opaque_tokens import TokenDigester
from lib_auth import ApiKeyCode, ApiKeyVerification, RateLimitState

# Counting and the last-used refresh, shared by both key kinds: `usable` is the key row's
# verdict (active, not expired, holds the required scopes).
_COUNT_AND_TOUCH = """
minute AS (
    INSERT INTO api_key_rate_windows AS w (api_key_id, window_kind, window_start, count)
    SELECT id, 'minute', date_trunc('minute', now(), 'UTC'), $3::int FROM k WHERE usable
    ON CONFLICT (api_key_id, window_kind, window_start) DO UPDATE SET count = w.count + $3::int
    RETURNING w.count
),
day AS (
    INSERT INTO api_key_rate_windows AS w (api_key_id, window_kind, window_start, count)
    SELECT id, 'day', date_trunc('day', now(), 'UTC'), $3::int FROM k WHERE usable
    ON CONFLICT (api_key_id, window_kind, window_start) DO UPDATE SET count = w.count + $3::int
    RETURNING w.count
)
"""

_USER_KEY_SQL = f"""
WITH k AS (
    SELECT id, user_id, key_hash, status, tier, scopes, expires_at,
           status = 'active' AND (expires_at IS NULL OR expires_at > now())
               AND scopes @> $2::text[] AS usable
    FROM api_keys WHERE key_hash = $1
),
{_COUNT_AND_TOUCH},
touched AS (
    -- The staleness test sits in this WHERE (not in k) so that, of concurrent verifies, only
    -- the first writes: the others re-check it after the row lock and skip.
    UPDATE api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM k WHERE usable)
      AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')
    RETURNING 1
)
SELECT k.id, k.user_id, k.key_hash, k.status, k.tier, k.scopes, k.expires_at, k.usable,
       NULL::text AS workspace_status,
       (SELECT count FROM minute) AS minute_count, (SELECT count FROM day) AS day_count,
       now() AS now
FROM k
"""

# A trial key verifies only while its workspace is `active` and not past `expires_at` (the
# expiry job may not have run yet). Its tier is the workspace's; its scopes are configured.
_TRIAL_KEY_SQL = f"""
WITH k AS (
    SELECT t.id, w.owner_id AS user_id, t.key_hash, t.status, upper(w.tier) AS tier,
           $4::text[] AS scopes, w.expires_at, w.status AS workspace_status,
           t.status = 'active' AND w.status = 'active' AND w.expires_at > now()
               AND $4::text[] @> $2::text[] AS usable
    FROM trial_api_keys t JOIN trial_workspaces w ON w.id = t.workspace_id
    WHERE t.key_hash = $1
),
{_COUNT_AND_TOUCH}
SELECT k.id, k.user_id, k.key_hash, k.status, k.tier, k.scopes, k.expires_at, k.usable,
       k.workspace_status,
       (SELECT count FROM minute) AS minute_count, (SELECT count FROM day) AS day_count,
       now() AS now
FROM k
"""

_NOT_FOUND = ApiKeyVerification(valid=False, code=ApiKeyCode.NOT_FOUND)


async def _keep_session(_: asyncpg.Connection) -> None:
    """Nothing to reset: the pool runs only the statements above, which leave no session state
    (asyncpg's default reset would cost a second round trip per verify)."""


async def open_counting_pool(settings: IdentitySettings) -> asyncpg.Pool:
    """The verify route's own connections (the service's role and schema)."""
    url = make_url(settings.database_url.get_secret_value()).set(drivername="postgresql")
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url.render_as_string(hide_password=False),
        min_size=0,  # connects on first use: the app starts (and /readyz answers) without it
        max_size=settings.database_pool_size,
        reset=_keep_session,
        server_settings={
            "search_path": settings.db_schema,
            "application_name": f"{settings.service_name}-verify",
            "synchronous_commit": "off",
        },
    )
    return pool


@dataclass(frozen=True, slots=True)
class ApiKeyVerifier:
    """Built once per app from the settings; `verify` is called per request with the app's
    counting pool (opened later, by the lifespan)."""

    digester: TokenDigester
    rate_limit_for: Callable[[str], RateLimit]
    trial_key_scopes: tuple[str, ...]

    async def verify(
        self, pool: asyncpg.Pool, key: str, required_scopes: Sequence[str] = (), cost: int = 1
    ) -> ApiKeyVerification:
        """`cost`: the calls to count (the caller's cached answers it served since it last
        asked, and this one); the last of them is the one answered."""
        kind = kind_of(key)
        if kind is None:
            return _NOT_FOUND
        digest = self.digester.digest(key)
        sql = _USER_KEY_SQL if kind is ApiKeyKind.USER else _TRIAL_KEY_SQL
        args: list[Any] = [digest, list(required_scopes), cost]
        if kind is ApiKeyKind.TRIAL:
            args.append(list(self.trial_key_scopes))
        row = await pool.fetchrow(sql, *args)
        # The lookup was by the hash; the compare is constant-time all the same.
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return _NOT_FOUND
        return self._answer(row, required_scopes)

    def _answer(self, row: Any, required_scopes: Sequence[str]) -> ApiKeyVerification:
        about: dict[str, Any] = {
            "key_id": row["id"],
            "owner_id": row["user_id"],
            "tier": row["tier"],
            "scopes": tuple(row["scopes"]),
        }
        code = _refusal(row, required_scopes)
        if code is not None:
            return ApiKeyVerification(valid=False, code=code, **about)
        limits = self.rate_limit_for(row["tier"])
        now: datetime = row["now"]
        minute = _window_state(
            limits.per_minute,
            row["minute_count"],
            now.replace(second=0, microsecond=0) + timedelta(minutes=1),
        )
        day = _window_state(
            limits.per_day,
            row["day_count"],
            now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
        )
        exceeded = [
            w
            for w, count in ((minute, row["minute_count"]), (day, row["day_count"]))
            if count > w.limit
        ]
        if exceeded:
            # The window that stays closed longest is the one to wait for.
            state = max(exceeded, key=lambda w: w.reset)
            return ApiKeyVerification(
                valid=False, code=ApiKeyCode.RATE_LIMITED, rate_limit=state, **about
            )
        state = min((minute, day), key=lambda w: w.remaining)
        return ApiKeyVerification(valid=True, code=ApiKeyCode.VALID, rate_limit=state, **about)


def _refusal(row: Any, required_scopes: Sequence[str]) -> ApiKeyCode | None:
    """Why the key may not be used, or None if it may (`usable` said so)."""
    if row["usable"]:
        return None
    # A trial key's workspace speaks first: its end is why the key was revoked with it.
    workspace_status = row["workspace_status"]
    if workspace_status in ("converted", "cancelled"):
        return ApiKeyCode.DISABLED
    if workspace_status == "expired":
        return ApiKeyCode.EXPIRED
    if row["status"] == "revoked":
        return ApiKeyCode.REVOKED
    if row["status"] == "pending_verification":
        return ApiKeyCode.PENDING_VERIFICATION
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= row["now"]:
        return ApiKeyCode.EXPIRED
    if not set(required_scopes) <= set(row["scopes"]):
        return ApiKeyCode.INSUFFICIENT_PERMISSIONS
    return ApiKeyCode.DISABLED


def _window_state(limit: int, count: int, reset: datetime) -> RateLimitState:
    return RateLimitState(limit=limit, remaining=max(0, limit - count), reset=reset)
