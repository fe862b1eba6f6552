"""Who is calling, and what their role lets them do. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["ROLES", "ROLE_PERMISSIONS", "Permission", "Principal", "Role", "lesser_role", "role_within"]

Role = Literal["admin", "analyst", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "viewer")


class Permission(StrEnum):
    READ = "read"                  # list and read own organisation's datasets, jobs, dashboards, exports
    WRITE = "write"                # upload, analyze, dashboard, predict, delete datasets
    MANAGE_KEYS = "manage_keys"    # own API keys
    MANAGE_USERS = "manage_users"  # users of the own organisation
    READ_AUDIT = "read_audit"      # the organisation's audit log


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ, Permission.MANAGE_KEYS}),
    "analyst": frozenset({Permission.READ, Permission.WRITE, Permission.MANAGE_KEYS}),
    "admin": frozenset(Permission),
}


_RANK: dict[Role, int] = {"viewer": 0, "analyst": 1, "admin": 2}


def role_within(role: Role, ceiling: Role) -> bool:
    """Whether ``role`` grants nothing beyond ``ceiling`` (an API key's role against its user's)."""
    return _RANK[role] <= _RANK[ceiling]


def lesser_role(a: Role, b: Role) -> Role:
    return a if _RANK[a] <= _RANK[b] else b


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, or an API key acting for its user with the key's role."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    email: str
    api_key_id: uuid.UUID | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]
