"""The identity repository: its port and the Postgres adapter (the gateway schema, psycopg 3 async)."""

from __future__ import annotations

import abc
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row

from ..domain.accounts import ApiKeyRecord, AuditEntry, Organization, RefreshRecord, UserRecord
from ..domain.identity import Role

__all__ = [
    "KEY_COLUMNS",
    "USER_SELECT",
    "EmailTaken",
    "IdentityRepository",
    "PostgresIdentityRepository",
    "SqlIdentityRepository",
]


class EmailTaken(Exception):
    """Another live account has this address."""


class IdentityRepository(abc.ABC):
    """Organisations, users, refresh tokens, API keys and the audit log, as the use cases need them."""

    # organisations
    @abc.abstractmethod
    async def organization_named(self, name: str) -> Organization | None: ...

    @abc.abstractmethod
    async def ensure_organization(self, name: str) -> Organization: ...

    # users (deleted users are invisible to every read)
    @abc.abstractmethod
    async def user_by_email(self, email: str) -> UserRecord | None: ...

    @abc.abstractmethod
    async def user(self, user_id: uuid.UUID) -> UserRecord | None: ...

    @abc.abstractmethod
    async def add_user(self, *, organization_id: uuid.UUID, email: str, password_hash: str, role: Role) -> UserRecord: ...

    @abc.abstractmethod
    async def users_of(self, organization_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[UserRecord], int]: ...

    @abc.abstractmethod
    async def change_user(self, user_id: uuid.UUID, *, role: Role | None = None, disabled: bool | None = None,
                          password_hash: str | None = None) -> UserRecord | None: ...

    @abc.abstractmethod
    async def delete_user(self, user_id: uuid.UUID, *, now: datetime) -> None:
        """Mark the user deleted and end every refresh token and API key of theirs."""

    # refresh tokens
    @abc.abstractmethod
    async def add_refresh_token(self, *, family_id: uuid.UUID, user_id: uuid.UUID, token_hash: str,
                                expires_at: datetime) -> None: ...

    @abc.abstractmethod
    async def refresh_token_for_update(self, token_hash: str) -> RefreshRecord | None:
        """The token, locked until the transaction ends (two refreshes with one token run one after the other)."""

    @abc.abstractmethod
    async def mark_refresh_used(self, token_id: uuid.UUID, *, now: datetime) -> None: ...

    @abc.abstractmethod
    async def revoke_family(self, family_id: uuid.UUID, *, now: datetime) -> None: ...

    @abc.abstractmethod
    async def revoke_user_sessions(self, user_id: uuid.UUID, *, now: datetime) -> None: ...

    # API keys
    @abc.abstractmethod
    async def add_api_key(self, *, user_id: uuid.UUID, organization_id: uuid.UUID, name: str, role: Role,
                          key_hash: str, expires_at: datetime | None = None) -> ApiKeyRecord: ...

    @abc.abstractmethod
    async def live_api_key(self, key_hash: str, *, now: datetime) -> ApiKeyRecord | None:
        """The key with this hash unless revoked or expired; records its use (at most every few seconds)."""

    @abc.abstractmethod
    async def api_key(self, api_key_id: uuid.UUID) -> ApiKeyRecord | None: ...

    @abc.abstractmethod
    async def api_keys_of(self, user_id: uuid.UUID) -> list[ApiKeyRecord]: ...

    @abc.abstractmethod
    async def revoke_api_key(self, api_key_id: uuid.UUID, *, now: datetime) -> None: ...

    # audit
    @abc.abstractmethod
    async def append_audit(self, entry: AuditEntry) -> None: ...

    @abc.abstractmethod
    async def audit_of(self, organization_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]: ...


USER_SELECT = (
    "SELECT u.user_id, u.organization_id, o.name AS organization_name, u.email, u.password_hash, u.role,"
    " u.disabled, u.created_at, u.updated_at FROM users u JOIN organizations o USING (organization_id)"
)
KEY_COLUMNS = ("api_key_id, user_id, organization_id, name, role, created_at, last_used_at, revoked_at,"
               " expires_at")


def _user(row: dict[str, Any] | None) -> UserRecord | None:
    return None if row is None else UserRecord(**row)


def _key(row: dict[str, Any] | None) -> ApiKeyRecord | None:
    return None if row is None else ApiKeyRecord(**row)


class SqlIdentityRepository(IdentityRepository):
    """The statements whose SQL Postgres and SQLite share, written with ``%s`` placeholders; an adapter gives
    ``_one``, ``_all`` (rows with typed values) and ``_execute``."""

    @abc.abstractmethod
    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def _execute(self, query: str, params: tuple[Any, ...]) -> None: ...

    row_lock = " FOR UPDATE"
    """How a read locks its row until the transaction ends."""

    async def refresh_token_for_update(self, token_hash: str) -> RefreshRecord | None:
        row = await self._one("SELECT token_id, family_id, user_id, expires_at, used_at, revoked_at"
                              f" FROM refresh_tokens WHERE token_hash = %s{self.row_lock}", (token_hash,))
        return None if row is None else RefreshRecord(**row)

    async def user(self, user_id: uuid.UUID) -> UserRecord | None:
        return _user(await self._one(f"{USER_SELECT} WHERE u.user_id = %s AND u.deleted_at IS NULL", (user_id,)))

    async def users_of(self, organization_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[UserRecord], int]:
        rows = await self._all(f"{USER_SELECT} WHERE u.organization_id = %s AND u.deleted_at IS NULL"
                               " ORDER BY u.created_at, u.user_id LIMIT %s OFFSET %s", (organization_id, limit, offset))
        total = await self._one("SELECT count(*) AS n FROM users WHERE organization_id = %s AND deleted_at IS NULL",
                                (organization_id,))
        return [UserRecord(**r) for r in rows], int((total or {"n": 0})["n"])

    async def mark_refresh_used(self, token_id: uuid.UUID, *, now: datetime) -> None:
        await self._execute("UPDATE refresh_tokens SET used_at = %s WHERE token_id = %s", (now, token_id))

    async def revoke_family(self, family_id: uuid.UUID, *, now: datetime) -> None:
        await self._execute("UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s"
                            " AND revoked_at IS NULL", (now, family_id))

    async def revoke_user_sessions(self, user_id: uuid.UUID, *, now: datetime) -> None:
        await self._execute("UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s"
                            " AND revoked_at IS NULL", (now, user_id))

    async def api_key(self, api_key_id: uuid.UUID) -> ApiKeyRecord | None:
        return _key(await self._one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE api_key_id = %s", (api_key_id,)))

    async def api_keys_of(self, user_id: uuid.UUID) -> list[ApiKeyRecord]:
        rows = await self._all(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = %s"
                               " ORDER BY created_at DESC, api_key_id", (user_id,))
        return [ApiKeyRecord(**r) for r in rows]

    async def revoke_api_key(self, api_key_id: uuid.UUID, *, now: datetime) -> None:
        await self._execute("UPDATE api_keys SET revoked_at = %s WHERE api_key_id = %s AND revoked_at IS NULL",
                            (now, api_key_id))


class PostgresIdentityRepository(SqlIdentityRepository):
    """On one connection; the caller holds the transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchone()

    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _execute(self, query: str, params: tuple[Any, ...]) -> None:
        await self.conn.execute(query, params)

    async def organization_named(self, name: str) -> Organization | None:
        row = await self._one("SELECT organization_id, name, created_at FROM organizations"
                              " WHERE lower(name) = lower(%s)", (name.strip(),))
        return None if row is None else Organization(**row)

    async def ensure_organization(self, name: str) -> Organization:
        await self.conn.execute("INSERT INTO organizations (organization_id, name) VALUES (%s, %s)"
                                " ON CONFLICT DO NOTHING", (uuid.uuid4(), name.strip()))
        org = await self.organization_named(name)
        assert org is not None
        return org

    async def user_by_email(self, email: str) -> UserRecord | None:
        return _user(await self._one(f"{USER_SELECT} WHERE lower(u.email) = lower(%s) AND u.deleted_at IS NULL",
                                     (email,)))

    async def add_user(self, *, organization_id: uuid.UUID, email: str, password_hash: str, role: Role) -> UserRecord:
        user_id = uuid.uuid4()
        try:
            async with self.conn.transaction():
                await self.conn.execute(
                    "INSERT INTO users (user_id, organization_id, email, password_hash, role)"
                    " VALUES (%s, %s, %s, %s, %s)", (user_id, organization_id, email, password_hash, role))
        except errors.UniqueViolation:
            raise EmailTaken(email) from None
        created = await self.user(user_id)
        assert created is not None
        return created

    async def change_user(self, user_id: uuid.UUID, *, role: Role | None = None, disabled: bool | None = None,
                          password_hash: str | None = None) -> UserRecord | None:
        await self.conn.execute(
            "UPDATE users SET role = coalesce(%s, role), disabled = coalesce(%s, disabled),"
            " password_hash = coalesce(%s, password_hash), updated_at = now()"
            " WHERE user_id = %s AND deleted_at IS NULL", (role, disabled, password_hash, user_id))
        return await self.user(user_id)

    async def delete_user(self, user_id: uuid.UUID, *, now: datetime) -> None:
        await self.conn.execute("UPDATE users SET deleted_at = %s, disabled = true, password_hash = '',"
                                " updated_at = %s WHERE user_id = %s AND deleted_at IS NULL", (now, now, user_id))
        await self.revoke_user_sessions(user_id, now=now)
        await self.conn.execute("UPDATE api_keys SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
                                (now, user_id))

    async def add_refresh_token(self, *, family_id: uuid.UUID, user_id: uuid.UUID, token_hash: str,
                                expires_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)", (uuid.uuid4(), family_id, user_id, token_hash, expires_at))

    async def add_api_key(self, *, user_id: uuid.UUID, organization_id: uuid.UUID, name: str, role: Role,
                          key_hash: str, expires_at: datetime | None = None) -> ApiKeyRecord:
        row = await self._one(
            "INSERT INTO api_keys (api_key_id, user_id, organization_id, name, role, key_hash, expires_at)"
            f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}",
            (uuid.uuid4(), user_id, organization_id, name, role, key_hash, expires_at))
        assert row is not None
        return ApiKeyRecord(**row)

    async def live_api_key(self, key_hash: str, *, now: datetime) -> ApiKeyRecord | None:
        # no cache here: the caller's PrincipalCache keeps a key DSP_AUTH_CACHE_S at most, forgotten once revoked
        row = await self._one(
            "UPDATE api_keys SET last_used_at = %s WHERE key_hash = %s AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > %s)"
            " AND (last_used_at IS NULL OR last_used_at < %s - interval '5 seconds')"
            f" RETURNING {KEY_COLUMNS}", (now, key_hash, now, now))
        if row is None:
            row = await self._one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"
                                  " AND (expires_at IS NULL OR expires_at > %s)", (key_hash, now))
        return _key(row)

    async def append_audit(self, entry: AuditEntry) -> None:
        await self.conn.execute(
            "INSERT INTO audit_log (request_id, user_id, api_key_id, organization_id, subject, action, target_id,"
            " status, client_ip) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (entry.request_id, entry.user_id, entry.api_key_id, entry.organization_id, entry.subject, entry.action,
             entry.target_id, entry.status, entry.client_ip))

    async def audit_of(self, organization_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self._all(
            "SELECT audit_id, at, request_id, user_id, api_key_id, organization_id, subject, action, target_id,"
            " status, client_ip FROM audit_log WHERE organization_id = %s ORDER BY audit_id DESC LIMIT %s OFFSET %s",
            (organization_id, limit, offset))
        total = await self._one("SELECT count(*) AS n FROM audit_log WHERE organization_id = %s", (organization_id,))
        items = [{**r, "at": r["at"].isoformat(),
                  **{k: str(r[k]) if r[k] is not None else None for k in ("user_id", "api_key_id", "organization_id")}}
                 for r in rows]
        return items, int((total or {"n": 0})["n"])
