"""Who a verified access token speaks for, and the claims identity puts in it.

Access-token claims (identity issues them, every service reads them):
    sub          user id (required)
    email        user's email
    roles        list of platform roles (`role`, a single string, is also read)
    staff_roles  list of booking staff roles
    scope        space-separated scopes (RFC 9068; `scp` as a list is also read)
Any other claim (e.g. a workshop id for workshop staff) is kept in `Principal.claims`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"
    SUPER_ADMIN = "SUPER_ADMIN"


class StaffRole(StrEnum):
    WORKSHOP_STAFF = "WORKSHOP_STAFF"
    JOCKEY = "JOCKEY"
    DISPATCHER = "DISPATCHER"


# A higher role can do everything a lower one can.
IMPLIED_ROLES: Mapping[str, frozenset[str]] = {
    Role.SUPER_ADMIN: frozenset({Role.ADMIN, Role.USER}),
    Role.ADMIN: frozenset({Role.USER}),
}


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    email: str | None = None
    roles: frozenset[str] = frozenset()
    staff_roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        roles = _strings(claims.get("roles")) | _strings(claims.get("role"))
        scope = claims.get("scope")
        scopes = _strings(scope.split()) if isinstance(scope, str) else frozenset()
        email = claims.get("email")
        return cls(
            user_id=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            roles=roles,
            staff_roles=_strings(claims.get("staff_roles")),
            scopes=scopes | _strings(claims.get("scp")),
            claims=dict(claims),
        )

    @property
    def effective_roles(self) -> frozenset[str]:
        """The platform roles held, with the ones they imply."""
        implied = (IMPLIED_ROLES.get(role, frozenset()) for role in self.roles)
        return self.roles.union(*implied)

    def has_role(self, role: str) -> bool:
        """A platform role (directly or implied) or a staff role."""
        return role in self.effective_roles or role in self.staff_roles

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
