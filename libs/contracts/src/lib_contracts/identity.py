"""Events produced by the `identity` context: users, API keys, trial workspaces, referrals."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lib_messaging.envelope import EventPayload, event_contract

from .common import Id, Revision, SubscriptionTier, Tokens, UtcDatetime

UserRole = Literal["USER", "ADMIN", "SUPER_ADMIN"]
"""Seed 004's `UserRole`."""

ApiKeyStatus = Literal["pending_verification", "active", "revoked"]
"""Seed 001's `ApiKeyMetadata.status`."""

TrialTier = Literal["standard", "enterprise"]
"""Seed 001's `TrialWorkspace.tier`."""


@event_contract("identity.user.registered", 1)
class UserRegistered(EventPayload):
    """Identity emits this once when a user account is created.

    Billing gives the user the free plan, a token balance and a daily quota; booking creates
    the customer profile; content creates the per-user content settings. `email` is optional
    because OAuth-only accounts may have none (seed 004).
    """

    user_id: Id
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    company: str | None = None
    role: UserRole = "USER"
    referred_by_id: Id | None = None
    email_verified_at: UtcDatetime | None = None
    registered_at: UtcDatetime


@event_contract("identity.user.updated", 1)
class UserUpdated(EventPayload):
    """Identity emits this whenever a user's profile or role changes; it is a full snapshot.

    Services that keep a user projection (booking's customer profile, billing's Stripe
    customer) replace it with this state. Out-of-order delivery: `revision` increases by one
    with every change of the user; apply an event only if its `revision` is higher than the
    one stored, otherwise drop it (`updated_at` is the source's time of that state).
    """

    user_id: Id
    revision: Revision
    updated_at: UtcDatetime
    email: str | None = None
    name: str | None = None
    image: str | None = None
    phone: str | None = None
    company: str | None = None
    role: UserRole
    email_verified_at: UtcDatetime | None = None


@event_contract("identity.user.email_verified", 1)
class UserEmailVerified(EventPayload):
    """Identity emits this when a user confirms an email address.

    Consumers that hold back features until the address is verified (API keys pending
    verification, billing's Stripe customer email) can release them.
    """

    user_id: Id
    email: str = Field(min_length=1)
    verified_at: UtcDatetime


@event_contract("identity.user.deleted", 1)
class UserDeleted(EventPayload):
    """Identity emits this when a user account is deleted.

    Every service erases or anonymises that user's data. It is terminal: keep a tombstone of
    the user id so that a late `identity.user.updated` cannot bring the user back.
    """

    user_id: Id
    deleted_at: UtcDatetime


@event_contract("identity.apikey.created", 1)
class ApiKeyCreated(EventPayload):
    """Identity emits this when a user creates an API key (the secret itself never travels).

    Consumers that show or meter usage per key (market_data, content) learn the key's id,
    visible prefix, tier and scopes.
    """

    api_key_id: Id
    user_id: Id
    key_prefix: str = Field(min_length=1)
    name: str | None = None
    status: ApiKeyStatus
    tier: SubscriptionTier
    scopes: list[str] = Field(default_factory=list)
    expires_at: UtcDatetime | None = None
    created_at: UtcDatetime


@event_contract("identity.apikey.revoked", 1)
class ApiKeyRevoked(EventPayload):
    """Identity emits this when an API key is revoked (by its owner, an admin or on expiry).

    market_data and content evict the key from their verification cache at once, by id or
    by its visible prefix.
    """

    api_key_id: Id
    user_id: Id
    key_prefix: str = Field(min_length=1)
    revoked_at: UtcDatetime


@event_contract("identity.trial.created", 1)
class TrialCreated(EventPayload):
    """Identity emits this when a user opens a trial workspace (seed 001's TrialWorkspace).

    Consumers that grant trial-level access (quota, data depth) grant it to the workspace
    until `expires_at`.
    """

    workspace_id: Id
    user_id: Id
    name: str = Field(min_length=1)
    slug: str = Field(min_length=1)
    tier: TrialTier
    created_at: UtcDatetime
    expires_at: UtcDatetime


@event_contract("identity.trial.converted", 1)
class TrialConverted(EventPayload):
    """Identity emits this when a trial workspace becomes a paid account (status `converted`).

    Consumers stop treating the workspace as a trial; the paid access itself follows
    `billing.subscription.updated`.
    """

    workspace_id: Id
    user_id: Id
    tier: TrialTier
    converted_at: UtcDatetime


@event_contract("identity.trial.expired", 1)
class TrialExpired(EventPayload):
    """Identity emits this when a trial workspace reaches `expiresAt` unconverted.

    Consumers withdraw trial-level access; the workspace's trial API keys stop working.
    """

    workspace_id: Id
    user_id: Id
    expired_at: UtcDatetime


@event_contract("identity.trial.cancelled", 1)
class TrialCancelled(EventPayload):
    """Identity emits this when the owner cancels a trial workspace before it expires.

    Consumers withdraw trial-level access at once.
    """

    workspace_id: Id
    user_id: Id
    cancelled_at: UtcDatetime


@event_contract("identity.referral.completed", 1)
class ReferralCompleted(EventPayload):
    """Identity emits this when a referred user completes the referral (seed 004's Referral).

    Billing credits `tokens_granted` to the referrer's token balance, once per `referral_id`.
    """

    referral_id: Id
    referrer_id: Id
    referee_id: Id
    tokens_granted: Tokens
    completed_at: UtcDatetime
