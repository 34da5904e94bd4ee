"""Public (/api/v1) and internal (/internal) routes of the identity service."""

from fastapi import APIRouter

from identity.api import (
    account_mail,
    admin_audit_logs,
    admin_users,
    auth,
    jwks,
    linked_accounts,
    oauth,
    users,
)

ROUTERS: list[APIRouter] = [
    jwks.router,
    auth.router,
    account_mail.router,
    users.router,
    admin_users.router,
    admin_audit_logs.router,
    oauth.router,
    linked_accounts.router,
]
