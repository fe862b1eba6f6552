"""The identity use cases: log in, refresh, log out, authenticate, users, API keys, the audit log.

Each takes the repository (bound to one transaction by the caller) and raises an ``IdentityFailure``
that the HTTP layer turns into its answer. A failure with ``keep_changes`` must still be committed (a
replayed refresh token revokes its family and then fails).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..adapters.identity import EmailTaken, IdentityRepository
from ..domain.accounts import ApiKeyRecord, AuditEntry, UserRecord
from ..domain.identity import ROLES, Permission, Principal, Role, role_within
from ..domain.passwords import (
    email_problem,
    hash_password,
    normalize_email,
    password_problem,
    verify_password,
)
from ..domain.tokens import (
    KeyRing,
    RefreshVerdict,
    TokenPolicy,
    TokenRejected,
    digest,
    issue_access_token,
    judge_refresh,
    looks_like_api_key,
    new_api_key,
    new_refresh_token,
    verify_access_token,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "IdentityConfig",
    "IdentityFailure",
    "Invalid",
    "InvalidCredentials",
    "InvalidGrant",
    "NotAuthenticated",
    "NotFound",
    "PrincipalCache",
    "Session",
    "TokenPair",
    "authenticate",
    "authenticate_cached",
    "create_api_key",
    "create_user",
    "delete_user",
    "ensure_user",
    "get_user",
    "list_api_keys",
    "list_audit",
    "list_users",
    "login",
    "logout",
    "record_audit",
    "refresh",
    "revoke_api_key",
    "update_user",
]


class IdentityFailure(Exception):
    code = "identity_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 keep_changes: bool = False) -> None:
        super().__init__(message)
        self.message, self.field, self.keep_changes = message, field, keep_changes
        if code:
            self.code = code


class NotAuthenticated(IdentityFailure):
    code = "not_authenticated"


class InvalidCredentials(IdentityFailure):
    code = "invalid_grant"

    def __init__(self, user: UserRecord | None) -> None:
        super().__init__("Wrong e-mail address or password.")
        self.user = user


class InvalidGrant(IdentityFailure):
    code = "invalid_grant"


class Forbidden(IdentityFailure):
    code = "forbidden"


class NotFound(IdentityFailure):
    code = "not_found"


class Conflict(IdentityFailure):
    code = "conflict"


class Invalid(IdentityFailure):
    code = "validation_error"


Session = Callable[[], AbstractAsyncContextManager[IdentityRepository]]
"""Opens one transaction and hands out the repository on it (for use cases that must not hold one throughout)."""


@dataclass(frozen=True)
class IdentityConfig:
    ring: KeyRing = field(repr=False)
    policy: TokenPolicy


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    user: UserRecord

    def oauth(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 answer."""
        return {"access_token": self.access_token, "refresh_token": self.refresh_token, "token_type": "bearer",
                "expires_in": self.expires_in}


def _now() -> datetime:
    return datetime.now(UTC)


async def _issue(repo: IdentityRepository, config: IdentityConfig, user: UserRecord, *, family_id: uuid.UUID,
                 now: datetime) -> TokenPair:
    access, expires_in = issue_access_token(config.ring, config.policy, user_id=user.user_id,
                                            organization_id=user.organization_id, role=user.role, now=now)
    refresh_token = new_refresh_token()
    await repo.add_refresh_token(family_id=family_id, user_id=user.user_id, token_hash=digest(refresh_token),
                                 expires_at=now + timedelta(seconds=config.policy.refresh_ttl_s))
    return TokenPair(access_token=access, refresh_token=refresh_token, expires_in=expires_in, user=user)


async def login(session: Session, config: IdentityConfig, *, email: str, password: str,
                now: datetime | None = None) -> TokenPair:
    """The password grant: a new token family. Unknown address, wrong password, disabled user: one answer.

    The Argon2 check (a fraction of a second of CPU) runs between two short transactions, holding no connection.
    """
    async with session() as repo:
        user = await repo.user_by_email(normalize_email(email))
    matches = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not matches or not user.active:
        raise InvalidCredentials(user)
    async with session() as repo:
        return await _issue(repo, config, user, family_id=uuid.uuid4(), now=now or _now())


async def refresh(repo: IdentityRepository, config: IdentityConfig, *, refresh_token: str,
                  now: datetime | None = None) -> TokenPair:
    """Rotate: the presented token is used up and its family gets the next one. A replay ends the family."""
    now = now or _now()
    record = await repo.refresh_token_for_update(digest(refresh_token))
    if record is None:
        raise InvalidGrant("The refresh token is not valid.")
    verdict = judge_refresh(used_at=record.used_at, revoked_at=record.revoked_at, expires_at=record.expires_at,
                            now=now)
    if verdict is RefreshVerdict.REPLAY:
        await repo.revoke_family(record.family_id, now=now)
        raise InvalidGrant("The refresh token was already used; every token of its session is revoked now.",
                           keep_changes=True)
    if verdict is not RefreshVerdict.ROTATE:
        raise InvalidGrant(f"The refresh token is {verdict.value}.")
    user = await repo.user(record.user_id)
    if user is None or not user.active:
        await repo.revoke_family(record.family_id, now=now)
        raise InvalidGrant("The account is disabled.", keep_changes=True)
    await repo.mark_refresh_used(record.token_id, now=now)
    return await _issue(repo, config, user, family_id=record.family_id, now=now)


async def logout(repo: IdentityRepository, *, refresh_token: str, now: datetime | None = None) -> None:
    """End the session (the token family) of ``refresh_token``; an unknown token ends nothing, quietly."""
    record = await repo.refresh_token_for_update(digest(refresh_token))
    if record is not None:
        await repo.revoke_family(record.family_id, now=now or _now())


async def authenticate(repo: IdentityRepository, config: IdentityConfig, credential: str, *,
                       now: datetime | None = None) -> Principal:
    """The caller behind an access token or an API key; a disabled or deleted user is nobody."""
    principal, _ = await _authenticate(repo, config, credential, now=now or _now())
    return principal


async def _authenticate(repo: IdentityRepository, config: IdentityConfig, credential: str, *,
                        now: datetime) -> tuple[Principal, float | None]:
    """The caller, and the moment (POSIX seconds) the credential itself expires (None: an API key without end)."""
    if looks_like_api_key(credential):
        key = await repo.live_api_key(digest(credential), now=now)
        user = await repo.user(key.user_id) if key else None
        if key is None or key.expired(now) or user is None or not user.active:
            raise NotAuthenticated("The API key is not valid.")
        return key.principal_for(user), key.expires_at.timestamp() if key.expires_at else None
    try:
        claims = verify_access_token(credential, config.ring, config.policy, now=now)
    except TokenRejected:
        raise NotAuthenticated("The access token is not valid.") from None
    user = await repo.user(claims.user_id)
    if user is None or not user.active or user.organization_id != claims.organization_id:
        raise NotAuthenticated("The access token is not valid.")
    return user.principal(), float(claims.expires_at)  # the current role, not the one the token was issued with


class PrincipalCache:
    """Who a credential authenticated as, for ``ttl_s`` seconds: the requests of one client within that time skip
    the token's verification and the lookup of its user (or key). Only successes are kept, each for no longer
    than the credential itself lives; ``clear`` forgets them all (a change of users or keys in this process).

    A user disabled, deleted or given another role, or a key revoked, by another process (another worker or
    replica, the ``dsp`` command) is seen within ``ttl_s``; 0 keeps nothing. At most ``max_entries`` are kept (the
    oldest go first)."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[Principal, float, float | None]] = {}
        self.pending: dict[str, asyncio.Future[tuple[Principal, float | None]]] = {}
        """The lookups under way, by credential: the concurrent requests of one client wait for the same one."""

    def get(self, credential: str, *, clock: float, now: float) -> Principal | None:
        """The principal of ``credential`` if one was kept and is still valid at ``clock`` (monotonic) and
        ``now`` (POSIX seconds)."""
        entry = self._entries.get(credential)
        if entry is None:
            return None
        principal, until, expires = entry
        if clock >= until or (expires is not None and now >= expires):
            self._entries.pop(credential, None)
            return None
        return principal

    def put(self, credential: str, principal: Principal, *, clock: float, expires: float | None) -> None:
        if self.ttl_s <= 0:
            return
        while len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[credential] = (principal, clock + self.ttl_s, expires)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


async def authenticate_cached(session: Session, config: IdentityConfig, cache: PrincipalCache, credential: str, *,
                              now: datetime | None = None) -> Principal:
    """``authenticate`` through ``cache``: a credential seen within its TTL opens no session."""
    now = now or _now()
    moment = now.timestamp()
    principal = cache.get(credential, clock=time.monotonic(), now=moment)
    if principal is not None:
        return principal
    pending = cache.pending.get(credential)
    if pending is not None:  # another request of this credential is looking it up: its answer is this one's
        principal, _ = await asyncio.shield(pending)
        return principal

    async def look_up() -> tuple[Principal, float | None]:
        async with session() as repo:
            return await _authenticate(repo, config, credential, now=now)

    lookup = asyncio.ensure_future(look_up())
    cache.pending[credential] = lookup
    try:
        principal, expires = await asyncio.shield(lookup)  # a cancelled caller leaves it to the others waiting
    finally:
        if cache.pending.get(credential) is lookup:
            del cache.pending[credential]
    cache.put(credential, principal, clock=time.monotonic(), expires=expires)
    return principal


def _role(value: str | None, *, field: str = "role") -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise Invalid(f"role must be one of {', '.join(ROLES)}.", field=field)


def _check_account(email: str, password: str) -> str:
    email = normalize_email(email)
    problem = email_problem(email)
    if problem:
        raise Invalid(f"The e-mail address {problem}.", field="email")
    problem = password_problem(password)
    if problem:
        raise Invalid(f"The password {problem}.", field="password")
    return email


async def _add(repo: IdentityRepository, organization_id: uuid.UUID, email: str, password: str,
               role: Role) -> UserRecord:
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        return await repo.add_user(organization_id=organization_id, email=email, password_hash=password_hash,
                                   role=role)
    except EmailTaken:
        raise Conflict("A user with this e-mail address exists.", field="email", code="email_taken") from None


async def ensure_user(repo: IdentityRepository, *, email: str, password: str, role: str,
                      organization: str) -> tuple[UserRecord, bool]:
    """For the bootstrap admin and the CLI: the user (created with its organisation if missing), and whether
    it was created now. An existing user is left as it is."""
    email = _check_account(email, password)
    existing = await repo.user_by_email(email)
    if existing is not None:
        return existing, False
    if not organization.strip():
        raise Invalid("The organization needs a name.", field="organization")
    org = await repo.ensure_organization(organization)
    return await _add(repo, org.organization_id, email, password, _role(role)), True


async def _actor(repo: IdentityRepository, actor: Principal) -> UserRecord:
    user = await repo.user(actor.user_id)
    if user is None:
        raise NotAuthenticated("The account no longer exists.")
    return user


async def create_user(repo: IdentityRepository, actor: Principal, *, email: str, password: str, role: str,
                      organization: str | None) -> UserRecord:
    """An admin adds a user to their own organisation (naming another one is refused: 403)."""
    admin = await _actor(repo, actor)
    if organization is not None and organization.strip().lower() != admin.organization_name.lower():
        raise Forbidden("An admin can only create users in their own organization.", field="organization")
    email = _check_account(email, password)
    return await _add(repo, admin.organization_id, email, password, _role(role))


async def _member(repo: IdentityRepository, actor: Principal, user_id: uuid.UUID) -> UserRecord:
    user = await repo.user(user_id)
    if user is None or user.organization_id != actor.organization_id:
        raise NotFound(f"No user has the id {user_id}.", field="user_id")
    return user


async def list_users(repo: IdentityRepository, actor: Principal, *, limit: int,
                     offset: int) -> tuple[list[UserRecord], int]:
    return await repo.users_of(actor.organization_id, limit=limit, offset=offset)


async def get_user(repo: IdentityRepository, actor: Principal, user_id: uuid.UUID) -> UserRecord:
    return await _member(repo, actor, user_id)


async def update_user(repo: IdentityRepository, actor: Principal, user_id: uuid.UUID, *, role: str | None = None,
                      disabled: bool | None = None, password: str | None = None,
                      now: datetime | None = None) -> UserRecord:
    user = await _member(repo, actor, user_id)
    new_role = _role(role) if role is not None else None
    if user.user_id == actor.user_id and (disabled or (new_role is not None and new_role != user.role)):
        raise Conflict("An admin cannot disable or demote their own account.", code="own_account")
    password_hash = None
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise Invalid(f"The password {problem}.", field="password")
        password_hash = await asyncio.to_thread(hash_password, password)
    changed = await repo.change_user(user.user_id, role=new_role, disabled=disabled, password_hash=password_hash)
    if disabled or password_hash is not None:
        await repo.revoke_user_sessions(user.user_id, now=now or _now())
    assert changed is not None
    return changed


async def delete_user(repo: IdentityRepository, actor: Principal, user_id: uuid.UUID, *,
                      now: datetime | None = None) -> None:
    user = await _member(repo, actor, user_id)
    if user.user_id == actor.user_id:
        raise Conflict("An admin cannot delete their own account.", code="own_account")
    await repo.delete_user(user.user_id, now=now or _now())


async def create_api_key(repo: IdentityRepository, actor: Principal, *, name: str, role: str | None = None,
                         expires_at: datetime | None = None, now: datetime | None = None) -> tuple[ApiKeyRecord, str]:
    """A new key for the caller, and the key itself (shown this once; only its hash is kept). With
    ``expires_at`` (a moment in the future; without a time zone, UTC) it fails from then on."""
    key_role = _role(role) if role is not None else actor.role
    if not role_within(key_role, actor.role):
        raise Forbidden(f"A key's role cannot exceed your role ({actor.role}).", field="role")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise Invalid("name must have 1 to 200 characters.", field="name")
    if expires_at is not None:
        expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        if expires_at <= (now or _now()):
            raise Invalid("expires_at must be in the future.", field="expires_at")
    secret = new_api_key()
    record = await repo.add_api_key(user_id=actor.user_id, organization_id=actor.organization_id, name=name,
                                    role=key_role, key_hash=digest(secret), expires_at=expires_at)
    return record, secret


async def list_api_keys(repo: IdentityRepository, actor: Principal) -> list[ApiKeyRecord]:
    return await repo.api_keys_of(actor.user_id)


async def revoke_api_key(repo: IdentityRepository, actor: Principal, api_key_id: uuid.UUID, *,
                         now: datetime | None = None) -> ApiKeyRecord:
    """The owner revokes their key; an admin may revoke any key of their organisation. Others: 404."""
    key = await repo.api_key(api_key_id)
    mine = key is not None and key.user_id == actor.user_id
    admins = key is not None and key.organization_id == actor.organization_id and actor.can(Permission.MANAGE_USERS)
    if key is None or not (mine or admins):
        raise NotFound(f"No API key has the id {api_key_id}.", field="api_key_id")
    await repo.revoke_api_key(key.api_key_id, now=now or _now())
    revoked = await repo.api_key(key.api_key_id)
    assert revoked is not None
    return revoked


async def record_audit(repo: IdentityRepository, entry: AuditEntry) -> None:
    await repo.append_audit(entry)


async def list_audit(repo: IdentityRepository, actor: Principal, *, limit: int,
                     offset: int) -> tuple[list[dict[str, Any]], int]:
    return await repo.audit_of(actor.organization_id, limit=limit, offset=offset)


async def issue_for(repo: IdentityRepository, config: IdentityConfig, *, email: str,
                    now: datetime | None = None) -> TokenPair:
    """A new token family for an active user, without a password: for a caller that proved who it is in another
    way (the sign-in address that ``dsp serve`` prints for its single user)."""
    user = await repo.user_by_email(normalize_email(email))
    if user is None or not user.active:
        raise InvalidCredentials(user)
    return await _issue(repo, config, user, family_id=uuid.uuid4(), now=now or _now())
