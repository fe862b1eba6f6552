"""The records of accounts as the use cases see them. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .identity import Principal, Role, lesser_role

__all__ = ["ApiKeyRecord", "AuditEntry", "Organization", "RefreshRecord", "UserRecord"]


@dataclass(frozen=True)
class Organization:
    organization_id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class UserRecord:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    email: str
    password_hash: str = field(repr=False)
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return not self.disabled

    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, organization_id=self.organization_id, role=self.role,
                         email=self.email)

    def view(self) -> dict[str, Any]:
        return {"id": str(self.user_id), "email": self.email, "role": self.role,
                "organization": self.organization_name, "organization_id": str(self.organization_id),
                "disabled": self.disabled, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class ApiKeyRecord:
    api_key_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def status(self, now: datetime) -> str:
        """active, revoked or expired."""
        return "revoked" if self.revoked_at is not None else "expired" if self.expired(now) else "active"

    def principal_for(self, user: UserRecord) -> Principal:
        """The key acts for its user with the lesser of the key's and the user's current role."""
        return Principal(user_id=user.user_id, organization_id=user.organization_id,
                         role=lesser_role(self.role, user.role), email=user.email, api_key_id=self.api_key_id)

    def view(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {"id": str(self.api_key_id), "name": self.name, "role": self.role, "user_id": str(self.user_id),
                "created_at": self.created_at.isoformat(), "last_used_at": iso(self.last_used_at),
                "revoked_at": iso(self.revoked_at), "expires_at": iso(self.expires_at),
                "status": self.status(datetime.now(UTC))}


@dataclass(frozen=True)
class RefreshRecord:
    token_id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    """One state-changing call: never a password, token or key."""

    action: str
    status: int
    request_id: str | None = None
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    subject: str | None = None
    target_id: str | None = None
    client_ip: str | None = None

    def __post_init__(self) -> None:
        # what the client sent (an e-mail address, a path) is kept even with a NUL, which no database's text
        # holds: it is written as U+FFFD, so the row of the call is never lost
        for name in ("action", "subject", "target_id"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                object.__setattr__(self, name, value.replace("\x00", "\ufffd"))
