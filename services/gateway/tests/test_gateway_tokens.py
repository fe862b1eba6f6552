"""The token rules of the gateway's domain, with no I/O: what verifies, what is refused and why."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from dsp_gateway.bootstrap import GatewaySettings, JwtKey, key_ring
from dsp_gateway.domain.identity import Principal, lesser_role, role_within
from dsp_gateway.domain.passwords import hash_password, password_problem, verify_password
from dsp_gateway.domain.tokens import (
    KeyRing,
    RefreshVerdict,
    SigningKey,
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

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
A, B = SigningKey("a", "a" * 40), SigningKey("b", "b" * 40)
RING = KeyRing.build([A, B], active_kid="b")
POLICY = TokenPolicy(issuer="iss", audience="aud", access_ttl_s=900)
USER, ORG = uuid.uuid4(), uuid.uuid4()


def _issue(ring: KeyRing = RING, at: datetime = NOW) -> str:
    return issue_access_token(ring, POLICY, user_id=USER, organization_id=ORG, role="analyst", now=at)[0]


def _claims(**overrides: object) -> dict[str, object]:
    now = int(NOW.timestamp())
    return {"iss": "iss", "aud": "aud", "sub": str(USER), "org": str(ORG), "role": "analyst", "typ": "access",
            "iat": now, "exp": now + 60, **overrides}


def test_an_issued_token_verifies_with_its_claims() -> None:
    token = _issue()
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "b", "typ": "JWT"}
    claims = verify_access_token(token, RING, POLICY, now=NOW + timedelta(minutes=14))
    assert (claims.user_id, claims.organization_id, claims.role) == (USER, ORG, "analyst")
    assert claims.expires_at == int(NOW.timestamp()) + 900


def test_a_token_expires_after_its_ttl() -> None:
    with pytest.raises(TokenRejected, match="expired"):
        verify_access_token(_issue(), RING, POLICY, now=NOW + timedelta(seconds=900))


def test_an_older_key_still_verifies_until_it_is_revoked() -> None:
    old = _issue(KeyRing.build([A], active_kid="a"))
    assert verify_access_token(old, RING, POLICY, now=NOW).user_id == USER
    revoked = KeyRing.build([A, B], active_kid="b", revoked=["a"])
    with pytest.raises(TokenRejected, match="revoked"):
        verify_access_token(old, revoked, POLICY, now=NOW)


def _none_token() -> str:
    def b64(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'kid': 'b'})}.{b64(_claims())}."


@pytest.mark.parametrize(("token", "reason"), [
    (_none_token(), "algorithm 'none'"),
    (jwt.encode(_claims(), "b" * 40, algorithm="HS384", headers={"kid": "b"}), "algorithm 'HS384'"),
    (jwt.encode(_claims(), "c" * 40, algorithm="HS256", headers={"kid": "b"}), "Signature"),
    (jwt.encode(_claims(), "b" * 40, algorithm="HS256", headers={"kid": "zzz"}), "unknown or revoked"),
    (jwt.encode(_claims(), "b" * 40, algorithm="HS256"), "unknown or revoked"),
    (jwt.encode(_claims(aud="other"), "b" * 40, algorithm="HS256", headers={"kid": "b"}), "(?i)audience"),
    (jwt.encode(_claims(iss="other"), "b" * 40, algorithm="HS256", headers={"kid": "b"}), "(?i)issuer"),
    (jwt.encode(_claims(typ="refresh"), "b" * 40, algorithm="HS256", headers={"kid": "b"}), "not an access token"),
    (jwt.encode(_claims(role="root"), "b" * 40, algorithm="HS256", headers={"kid": "b"}), "role"),
    (jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, "b" * 40, algorithm="HS256",
                headers={"kid": "b"}), "exp"),
    ("not.a.jwt", "malformed"),
    ("", "malformed"),
])
def test_anything_else_is_refused(token: str, reason: str) -> None:
    with pytest.raises(TokenRejected, match=reason):
        verify_access_token(token, RING, POLICY, now=NOW)


def test_a_key_ring_refuses_short_duplicate_or_revoked_active_keys() -> None:
    with pytest.raises(ValueError, match="shorter"):
        KeyRing.build([SigningKey("x", "short")])
    with pytest.raises(ValueError, match="unique"):
        KeyRing.build([A, A])
    with pytest.raises(ValueError, match="revoked"):
        KeyRing.build([A, B], active_kid="a", revoked=["a"])
    assert KeyRing.build([A, B], revoked=["b"]).active_kid == "a"


def test_refresh_verdicts() -> None:
    later = NOW + timedelta(days=1)
    assert judge_refresh(used_at=None, revoked_at=None, expires_at=later, now=NOW) is RefreshVerdict.ROTATE
    assert judge_refresh(used_at=NOW, revoked_at=None, expires_at=later, now=NOW) is RefreshVerdict.REPLAY
    assert judge_refresh(used_at=NOW, revoked_at=NOW, expires_at=later, now=NOW) is RefreshVerdict.REVOKED
    assert judge_refresh(used_at=None, revoked_at=None, expires_at=NOW, now=NOW) is RefreshVerdict.EXPIRED


def test_opaque_secrets_are_recognisable_and_stored_as_sha256() -> None:
    key, refresh = new_api_key(), new_refresh_token()
    assert looks_like_api_key(key) and not looks_like_api_key(refresh) and not looks_like_api_key(_issue())
    assert key != new_api_key() and len(digest(key)) == 64 and digest(key) == digest(key)


def test_roles_order_and_permissions() -> None:
    assert role_within("viewer", "analyst") and not role_within("admin", "analyst")
    assert lesser_role("admin", "viewer") == "viewer"
    viewer = Principal(user_id=USER, organization_id=ORG, role="viewer", email="v@example.com")
    assert viewer.can("read") and not viewer.can("write")  # type: ignore[arg-type]


def test_passwords_are_argon2_and_checked() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse") and not verify_password(stored, "wrong horse")
    assert not verify_password(None, "correct horse") and not verify_password("garbage", "x")
    assert not verify_password("", "correct horse")
    assert password_problem("short") and password_problem("long enough") is None


def test_production_refuses_a_missing_or_placeholder_jwt_key() -> None:
    with pytest.raises(ValueError, match="missing, refused in production"):
        key_ring(GatewaySettings(jwt_secret=None, jwt_keys=[]), "production")
    with pytest.raises(ValueError, match="placeholder"):
        key_ring(GatewaySettings(jwt_keys=[JwtKey(kid="k", secret="changeme")]), "production")
    ring = key_ring(GatewaySettings(jwt_secret="s" * 40), "production")
    assert ring.active.secret == "s" * 40
    dev = key_ring(GatewaySettings(jwt_secret=None, jwt_keys=[]), "development")
    assert dev.active_kid.startswith("dev-") and len(dev.active.secret) >= 32


def test_serve_is_refused_in_production_without_a_jwt_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from dsp_gateway.bootstrap import check_identity_settings

    monkeypatch.setenv("DSP_ENVIRONMENT", "production")
    monkeypatch.setenv("DSP_AMQP_URL", "amqp://user:long-password@127.0.0.1:5672/")
    monkeypatch.delenv("DSP_JWT_SECRET", raising=False)
    monkeypatch.delenv("DSP_JWT_KEYS", raising=False)
    assert "missing, refused in production" in (check_identity_settings() or "")
    monkeypatch.setenv("DSP_JWT_SECRET", "k" * 40)
    monkeypatch.setenv("DSP_BOOTSTRAP_ADMIN_EMAIL", "root@example.com")
    monkeypatch.setenv("DSP_BOOTSTRAP_ADMIN_PASSWORD", "changeme")
    assert "placeholder" in (check_identity_settings() or "")
    monkeypatch.setenv("DSP_BOOTSTRAP_ADMIN_PASSWORD", "a-real-long-password")
    assert check_identity_settings() is None
