"""Public (/api/v1) and internal (/internal) routes of the identity service."""

from fastapi import APIRouter

from identity.api import (
    admin_audit_logs,
    admin_users,
    api_keys,
    auth,
    internal_api_keys,
    jwks,
    trials,
    users,
)

ROUTERS: list[APIRouter] = [
    # First: routes are matched in order, and API key verification is the hottest path.
    internal_api_keys.router,
    jwks.router,
    auth.router,
    users.router,
    admin_users.router,
    admin_audit_logs.router,
    api_keys.router,
    trials.router,
]
