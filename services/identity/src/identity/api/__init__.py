"""Public (/api/v1) and internal (/internal) routes of the identity service."""

from fastapi import APIRouter

from identity.api import (
    account_mail,
    admin_audit_logs,
    admin_users,
    api_keys,
    auth,
    internal_api_keys,
    jwks,
    linked_accounts,
    oauth,
    trials,
    users,
)

ROUTERS: list[APIRouter] = [
    # First: routes are matched in order, and API key verification is the hottest path.
    internal_api_keys.router,
    jwks.router,
    auth.router,
    account_mail.router,
    users.router,
    admin_users.router,
    admin_audit_logs.router,
    oauth.router,
    linked_accounts.router,
    api_keys.router,
    trials.router,
]
