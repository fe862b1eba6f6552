"""Access tokens (JWT), refresh tokens and API keys: the rules, with no I/O.

- Access tokens are HS256 JWTs, and only HS256 is accepted: ``none``, RS*/ES* and anything else fail
  before a key is even chosen, so no RS/HS confusion can happen. The header must carry a ``kid`` naming
  a known key that was not revoked. ``iss``, ``aud``, ``exp``, ``iat``, ``sub`` and ``org`` are required.
- Refresh tokens and API keys are opaque random strings; only their SHA-256 is stored. A refresh token
  is used once: its use rotates it, a second use (a replay) revokes its whole family.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import jwt

from .identity import ROLES, Role

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "API_KEY_PREFIX",
    "REFRESH_TOKEN_PREFIX",
    "AccessClaims",
    "KeyRing",
    "RefreshVerdict",
    "SigningKey",
    "TokenPolicy",
    "TokenRejected",
    "digest",
    "issue_access_token",
    "judge_refresh",
    "looks_like_api_key",
    "new_api_key",
    "new_refresh_token",
    "verify_access_token",
]

ACCEPTED_ALGORITHMS: tuple[str, ...] = ("HS256",)
API_KEY_PREFIX = "dsp_"
REFRESH_TOKEN_PREFIX = "dspr_"
MIN_SECRET_LENGTH = 32
_TOKEN_TYPE = "access"


class TokenRejected(Exception):
    """The token is not a valid access token; ``reason`` says why (for logs, never shown to the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    """The signing keys: the active one signs; every known, non-revoked one verifies."""

    keys: Mapping[str, SigningKey]
    active_kid: str
    revoked: frozenset[str] = frozenset()

    @classmethod
    def build(cls, keys: Iterable[SigningKey], *, active_kid: str | None = None,
              revoked: Iterable[str] = ()) -> KeyRing:
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if not key.kid or key.kid in by_kid:
                raise ValueError(f"signing key ids must be unique and non-empty (got {key.kid!r})")
            if len(key.secret) < MIN_SECRET_LENGTH:
                raise ValueError(f"signing key {key.kid!r} is shorter than {MIN_SECRET_LENGTH} characters")
            by_kid[key.kid] = key
        revoked_set = frozenset(revoked)
        usable = [kid for kid in by_kid if kid not in revoked_set]
        if not usable:
            raise ValueError("no signing key that is not revoked")
        active = active_kid or usable[-1]
        if active not in by_kid:
            raise ValueError(f"the active signing key {active!r} is not among the keys")
        if active in revoked_set:
            raise ValueError(f"the active signing key {active!r} is revoked")
        return cls(keys=by_kid, active_kid=active, revoked=revoked_set)

    @property
    def active(self) -> SigningKey:
        return self.keys[self.active_kid]

    def verifying_secret(self, kid: object) -> str | None:
        """The secret that verifies tokens of ``kid``; None for an unknown or revoked kid."""
        if not isinstance(kid, str) or kid in self.revoked:
            return None
        key = self.keys.get(kid)
        return key.secret if key else None


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str = "dsp-gateway"
    audience: str = "dsp-api"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 14 * 24 * 3600


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    token_id: str
    expires_at: int


def issue_access_token(ring: KeyRing, policy: TokenPolicy, *, user_id: uuid.UUID, organization_id: uuid.UUID,
                       role: Role, now: datetime) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    issued = int(now.timestamp())
    claims = {
        "iss": policy.issuer, "aud": policy.audience, "sub": str(user_id), "org": str(organization_id),
        "role": role, "typ": _TOKEN_TYPE, "iat": issued, "nbf": issued, "exp": issued + policy.access_ttl_s,
        "jti": uuid.uuid4().hex,
    }
    key = ring.active
    token = jwt.encode(claims, key.secret, algorithm=ACCEPTED_ALGORITHMS[0], headers={"kid": key.kid})
    return token, policy.access_ttl_s


def verify_access_token(token: str, ring: KeyRing, policy: TokenPolicy, *, now: datetime) -> AccessClaims:
    """The claims of a valid access token; raises ``TokenRejected`` for anything else."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"malformed token: {exc}") from None
    algorithm = header.get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise TokenRejected(f"algorithm {algorithm!r} is not accepted")
    secret = ring.verifying_secret(header.get("kid"))
    if secret is None:
        raise TokenRejected(f"unknown or revoked key id {header.get('kid')!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=list(ACCEPTED_ALGORITHMS), audience=policy.audience, issuer=policy.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"invalid token: {exc}") from None
    moment = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, int | float) or exp <= moment:
        raise TokenRejected("expired")
    if isinstance(nbf, int | float) and nbf > moment + 30:
        raise TokenRejected("not valid yet")
    if claims.get("typ") != _TOKEN_TYPE:
        raise TokenRejected("not an access token")
    role = claims.get("role")
    if role not in ROLES:
        raise TokenRejected("no valid role")
    try:
        user_id, organization_id = uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims.get("org")))
    except ValueError:
        raise TokenRejected("sub or org is not an id") from None
    return AccessClaims(user_id=user_id, organization_id=organization_id, role=role,
                        token_id=str(claims.get("jti", "")), expires_at=int(exp))


def digest(secret: str) -> str:
    """How a refresh token or an API key is stored and looked up: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


class RefreshVerdict(StrEnum):
    ROTATE = "rotate"    # valid: mark it used, issue the next token of its family
    REPLAY = "replay"    # used before: someone holds a copy; revoke the whole family
    REVOKED = "revoked"  # its family was ended (logout, replay, user deleted)
    EXPIRED = "expired"


def judge_refresh(*, used_at: datetime | None, revoked_at: datetime | None, expires_at: datetime,
                  now: datetime) -> RefreshVerdict:
    if revoked_at is not None:
        return RefreshVerdict.REVOKED
    if used_at is not None:
        return RefreshVerdict.REPLAY
    if expires_at <= now:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.ROTATE
