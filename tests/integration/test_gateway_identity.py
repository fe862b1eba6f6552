"""Identity in the gateway, against the real PostgreSQL, RabbitMQ and Redis: logins, token tampering, refresh
rotation and replay, API keys, the login rate limit, users confined to their organization, the audit log
and the create-user command."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dsp_gateway.bootstrap import service_spec
from mesh_kit.db import role_name, with_user
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import delete_topology

from ..auth_helpers import ADMIN_EMAIL, ADMIN_PASSWORD, api_key, login, seed_user, tokens
from ..conftest import migrated_database

pytestmark = pytest.mark.integration

ACTIVE_KID, ACTIVE_SECRET = "k2", "active-signing-secret-" + "a" * 32
OLD_KID, OLD_SECRET = "k1", "revoked-signing-secret-" + "b" * 32
ISSUER, AUDIENCE = "dsp-gateway-test", "dsp-api-test"


@pytest.fixture(scope="module")
def gateway_database(infra) -> Iterator[str]:
    with migrated_database(infra, "identity") as url:
        yield url


@dataclass
class Gateway:
    client: httpx.AsyncClient
    database_url: str
    admin: dict[str, str]
    me: dict[str, Any]

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            conn.execute("SET search_path = gateway")
            return conn.execute(query, params).fetchall()


@pytest.fixture
async def gateway(infra, gateway_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The gateway app with two signing keys (one revoked), a bootstrap admin, and a Redis namespace of its own."""
    suffix = uuid.uuid4().hex[:8]
    for name, value in {
        "DSP_REDIS_NAMESPACE": f"{infra.redis_namespace}-id-{suffix}",
        "DSP_JWT_KEYS": json.dumps([{"kid": OLD_KID, "secret": OLD_SECRET}, {"kid": ACTIVE_KID, "secret": ACTIVE_SECRET}]),
        "DSP_JWT_ACTIVE_KID": ACTIVE_KID, "DSP_JWT_REVOKED_KIDS": json.dumps([OLD_KID]),
        "DSP_JWT_ISSUER": ISSUER, "DSP_JWT_AUDIENCE": AUDIENCE,
        "DSP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "DSP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DSP_BOOTSTRAP_ORGANIZATION": "default",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DSP_JWT_SECRET", raising=False)
    settings = MeshSettings(
        environment="test", database_url=with_user(gateway_database, role_name("gateway")),
        amqp_url=infra.amqp_url, redis_url=infra.redis_url, artifact_url=(tmp_path / "artifacts").as_uri(),
        exchange=f"dsp.events.id{suffix}", queue_prefix=f"id{suffix}", retry_delays_ms=(200, 400), outbox_poll_s=0.1,
        allowed_hosts=["gateway"], metrics_port=0,
    )
    app = build_app(service_spec(), settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway",
            timeout=60) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        me = (await client.get("/api/v1/me", headers=admin)).json()["data"]
        yield Gateway(client=client, database_url=gateway_database, admin=admin, me=me)
    await delete_topology(infra.amqp_url, topology_of(settings))


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def _claims(me: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": me["user_id"], "org": me["organization_id"], "role": "admin",
              "typ": "access", "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _tampered(kind: str, me: dict[str, Any]) -> str:
    claims = _claims(me)
    if kind == "alg_none":
        return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': ACTIVE_KID}).encode())}." \
               f"{_b64(json.dumps(claims).encode())}."
    if kind == "rs256_same_kid":
        return jwt.encode(claims, _rsa_key(), algorithm="RS256", headers={"kid": ACTIVE_KID})
    if kind == "hs256_signed_with_public_key":
        public = _rsa_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        return _hs256_by_hand({"alg": "HS256", "typ": "JWT", "kid": ACTIVE_KID}, claims, public)
    if kind == "wrong_signature":
        return jwt.encode(claims, "some-other-secret-" + "c" * 32, algorithm="HS256", headers={"kid": ACTIVE_KID})
    if kind == "wrong_aud":
        return jwt.encode(_claims(me, aud="someone-else"), ACTIVE_SECRET, algorithm="HS256", headers={"kid": ACTIVE_KID})
    if kind == "wrong_iss":
        return jwt.encode(_claims(me, iss="evil-issuer"), ACTIVE_SECRET, algorithm="HS256", headers={"kid": ACTIVE_KID})
    if kind == "expired":
        past = int(time.time()) - 3600
        return jwt.encode(_claims(me, iat=past, nbf=past, exp=past + 900), ACTIVE_SECRET, algorithm="HS256",
                          headers={"kid": ACTIVE_KID})
    if kind == "revoked_kid":
        return jwt.encode(claims, OLD_SECRET, algorithm="HS256", headers={"kid": OLD_KID})
    if kind == "unknown_kid":
        return jwt.encode(claims, ACTIVE_SECRET, algorithm="HS256", headers={"kid": "nope"})
    if kind == "no_kid":
        return jwt.encode(claims, ACTIVE_SECRET, algorithm="HS256")
    if kind == "hs512":
        return jwt.encode(claims, ACTIVE_SECRET, algorithm="HS512", headers={"kid": ACTIVE_KID})
    raise AssertionError(kind)


def _is_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == "error" and body["errors"][0]["code"] == "not_authenticated"


async def test_the_password_login_answers_rfc_6749_and_the_token_works(gateway: Gateway) -> None:
    response = await gateway.client.post("/api/v1/auth/token",
                                         data={"username": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert response.headers["cache-control"] == "no-store"
    assert jwt.get_unverified_header(body["access_token"])["kid"] == ACTIVE_KID
    me = await gateway.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["email"] == ADMIN_EMAIL and me.json()["data"]["role"] == "admin"
    assert me.json()["data"]["organization"] == "default"


async def test_a_wrong_password_answers_invalid_grant_with_401(gateway: Gateway) -> None:
    response = await gateway.client.post("/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["www-authenticate"].startswith("Bearer")
    unknown = await gateway.client.post("/api/v1/auth/token", data={"username": _email("ghost"), "password": "x" * 10})
    assert unknown.status_code == 401 and unknown.json() == response.json()


async def test_no_credentials_answer_401_in_the_envelope(gateway: Gateway) -> None:
    _is_401(await gateway.client.get("/api/v1/me"))
    _is_401(await gateway.client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-jwt"}))
    _is_401(await gateway.client.get("/api/v1/me", headers={"X-API-Key": "dsp_not-a-key"}))


@pytest.mark.parametrize("kind", ["alg_none", "rs256_same_kid", "hs256_signed_with_public_key", "wrong_signature",
                                  "wrong_aud", "wrong_iss", "expired", "revoked_kid", "unknown_kid", "no_kid", "hs512"])
async def test_a_tampered_token_is_refused(gateway: Gateway, kind: str) -> None:
    forged = _tampered(kind, gateway.me)
    for _ in range(3):  # every time, not by chance
        _is_401(await gateway.client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}))


async def test_the_forging_helper_makes_a_valid_token_when_nothing_is_tampered(gateway: Gateway) -> None:
    """The tampering cases above differ from an accepted token only in what they tamper with."""
    good = jwt.encode(_claims(gateway.me), ACTIVE_SECRET, algorithm="HS256", headers={"kid": ACTIVE_KID})
    response = await gateway.client.get("/api/v1/me", headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 200, response.text


async def _refresh(client: httpx.AsyncClient, token: object) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_and_a_replay_revokes_the_whole_family(gateway: Gateway) -> None:
    first = await tokens(gateway.client, ADMIN_EMAIL, ADMIN_PASSWORD)
    rotated = await _refresh(gateway.client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["data"]
    assert second["refresh_token"] != first["refresh_token"] and second["token_type"] == "bearer"
    me = await gateway.client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200

    replay = await _refresh(gateway.client, first["refresh_token"])
    assert replay.status_code == 401 and replay.json()["errors"][0]["code"] == "invalid_grant"
    newest = await _refresh(gateway.client, second["refresh_token"])
    assert newest.status_code == 401, "the newest token of a replayed family must fail too"

    other = await tokens(gateway.client, ADMIN_EMAIL, ADMIN_PASSWORD)  # another session is untouched
    assert (await _refresh(gateway.client, other["refresh_token"])).status_code == 200


async def test_logout_ends_the_family(gateway: Gateway) -> None:
    pair = await tokens(gateway.client, ADMIN_EMAIL, ADMIN_PASSWORD)
    out = await gateway.client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 200 and out.json()["data"] == {"logged_out": True}
    assert (await _refresh(gateway.client, pair["refresh_token"])).status_code == 401
    assert (await _refresh(gateway.client, "dspr_unknown")).status_code == 401


async def test_an_api_key_works_in_both_headers_and_fails_within_a_second_of_its_revocation(gateway: Gateway) -> None:
    created = await gateway.client.post("/api/v1/api-keys", json={"name": "ci"}, headers=gateway.admin)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert set(data) == {"id", "name", "role", "key", "created_at", "expires_at"} and data["role"] == "admin"
    assert data["expires_at"] is None
    key = data["key"]
    assert key.startswith("dsp_")
    stored = gateway.sql("SELECT key_hash FROM api_keys WHERE api_key_id = %s", (data["id"],))
    assert stored == [(hashlib.sha256(key.encode()).hexdigest(),)]

    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        me = await gateway.client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["data"]["api_key_id"] == data["id"]

    listed = (await gateway.client.get("/api/v1/api-keys", headers=gateway.admin)).json()["data"]["items"]
    mine = next(item for item in listed if item["id"] == data["id"])
    assert "key" not in mine and mine["last_used_at"] is not None
    assert mine["status"] == "active" and mine["expires_at"] is None

    revoked = await gateway.client.delete(f"/api/v1/api-keys/{data['id']}", headers=gateway.admin)
    assert revoked.status_code == 200 and revoked.json()["data"]["revoked_at"]
    assert revoked.json()["data"]["status"] == "revoked"
    started = time.monotonic()
    while True:
        response = await gateway.client.get("/api/v1/me", headers={"X-API-Key": key})
        if response.status_code == 401:
            break
        assert time.monotonic() - started < 1.0, "the revoked key still works after 1 s"
        await asyncio.sleep(0.05)
    _is_401(response)


async def test_a_key_cannot_exceed_its_users_role_and_acts_with_the_lesser_role(gateway: Gateway) -> None:
    email = _email("viewer")
    seed_user(gateway.database_url, email, "viewer-password", role="viewer")
    viewer = await login(gateway.client, email, "viewer-password")
    too_high = await gateway.client.post("/api/v1/api-keys", json={"name": "x", "role": "analyst"}, headers=viewer)
    assert too_high.status_code == 403 and too_high.json()["errors"][0]["field"] == "role"
    viewer_key = await api_key(gateway.client, viewer)
    assert (await gateway.client.get("/api/v1/me", headers=viewer_key)).json()["data"]["role"] == "viewer"
    admin_viewer_key = await api_key(gateway.client, gateway.admin, role="viewer")
    assert (await gateway.client.get("/api/v1/users", headers=admin_viewer_key)).status_code == 403


async def test_the_eleventh_login_after_ten_bad_ones_is_429_even_with_the_right_password(gateway: Gateway) -> None:
    email = _email("target")
    seed_user(gateway.database_url, email, "the-right-password")
    for attempt in range(10):
        bad = await gateway.client.post("/api/v1/auth/token", data={"username": email, "password": f"wrong-{attempt}"})
        assert bad.status_code == 401, (attempt, bad.text)
    limited = await gateway.client.post("/api/v1/auth/token", data={"username": email, "password": "the-right-password"})
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0
    assert limited.json()["error"] == "too_many_requests"
    # the client IP is limited too: another address from the same client is refused as well
    other = await gateway.client.post("/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert other.status_code == 429


async def test_users_are_managed_by_admins_within_their_own_organization(gateway: Gateway) -> None:
    client, admin = gateway.client, gateway.admin
    email = _email("ana")
    created = await client.post("/api/v1/users", headers=admin,
                                json={"email": email, "password": "ana-password", "role": "analyst",
                                      "organization": "Default"})
    assert created.status_code == 201, created.text
    ana = created.json()["data"]
    assert ana["organization"] == "default" and ana["role"] == "analyst" and "password" not in json.dumps(ana)
    duplicate = await client.post("/api/v1/users", headers=admin,
                                  json={"email": email.upper(), "password": "ana-password", "role": "viewer"})
    assert duplicate.status_code == 409
    elsewhere = await client.post("/api/v1/users", headers=admin,
                                  json={"email": _email("x"), "password": "x-password", "role": "viewer",
                                        "organization": "other-org"})
    assert elsewhere.status_code == 403

    other_org = f"org-{uuid.uuid4().hex[:6]}"
    other_email = _email("bob")
    seed_user(gateway.database_url, other_email, "bob-password", role="admin", organization=other_org)
    bob = await login(client, other_email, "bob-password")
    listed = (await client.get("/api/v1/users", headers=bob)).json()["data"]
    assert [u["email"] for u in listed["items"]] == [other_email] and listed["total"] == 1
    for method, extra in (("GET", {}), ("PATCH", {"json": {"role": "viewer"}}), ("DELETE", {})):
        response = await client.request(method, f"/api/v1/users/{ana['id']}", headers=bob, **extra)
        assert response.status_code == 404, (method, response.text)
    assert (await client.get(f"/api/v1/users/{uuid.uuid4()}", headers=admin)).status_code == 404
    assert (await client.get("/api/v1/users/not-an-id", headers=admin)).status_code == 404

    analyst = await login(client, email, "ana-password")
    assert (await client.get("/api/v1/users", headers=analyst)).status_code == 403
    assert (await client.get("/api/v1/audit", headers=analyst)).status_code == 403

    changed = await client.patch(f"/api/v1/users/{ana['id']}", headers=admin, json={"role": "viewer"})
    assert changed.status_code == 200 and changed.json()["data"]["role"] == "viewer"
    assert (await client.get("/api/v1/me", headers=analyst)).json()["data"]["role"] == "viewer"  # at once
    ana_key = await api_key(client, analyst)
    assert (await client.get("/api/v1/me", headers=ana_key)).status_code == 200
    disabled = await client.patch(f"/api/v1/users/{ana['id']}", headers=admin, json={"disabled": True})
    assert disabled.status_code == 200
    _is_401(await client.get("/api/v1/me", headers=analyst))
    _is_401(await client.get("/api/v1/me", headers=ana_key))  # a disabled user's keys fail too
    assert (await client.post("/api/v1/auth/token",
                              data={"username": email, "password": "ana-password"})).status_code == 401
    assert (await client.patch(f"/api/v1/users/{gateway.me['user_id']}", headers=admin,
                               json={"role": "viewer"})).status_code == 409
    deleted = await client.delete(f"/api/v1/users/{ana['id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert (await client.get(f"/api/v1/users/{ana['id']}", headers=admin)).status_code == 404


async def test_state_changing_calls_leave_audit_rows_without_secrets(gateway: Gateway) -> None:
    client = gateway.client
    created = await client.post("/api/v1/api-keys", json={"name": "audited"}, headers=gateway.admin)
    key, key_id = created.json()["data"]["key"], created.json()["data"]["id"]
    failed = await client.post("/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": "bad-secret-pw"})
    assert failed.status_code == 401

    page = await client.get("/api/v1/audit?limit=5", headers=gateway.admin)
    assert page.status_code == 200, page.text
    items = page.json()["data"]["items"]
    failed_login, key_creation = items[0], items[1]
    assert failed_login["action"] == "POST /api/v1/auth/token" and failed_login["status"] == 401
    assert failed_login["subject"] == ADMIN_EMAIL and failed_login["user_id"] == gateway.me["user_id"]
    assert key_creation["action"] == "POST /api/v1/api-keys" and key_creation["status"] == 201
    assert key_creation["user_id"] == gateway.me["user_id"] and key_creation["target_id"] == key_id
    assert key_creation["request_id"] == created.headers["x-request-id"]
    assert items == sorted(items, key=lambda r: r["audit_id"], reverse=True)

    everything = json.dumps(gateway.sql("SELECT * FROM audit_log"), default=str)
    for secret in (key, "bad-secret-pw", ADMIN_PASSWORD, gateway.admin["Authorization"].split()[1]):
        assert secret not in everything
    with pytest.raises(psycopg.errors.RaiseException):
        gateway.sql("UPDATE audit_log SET status = 200")
    with pytest.raises(psycopg.errors.RaiseException):
        gateway.sql("DELETE FROM audit_log")


async def test_the_openapi_document_declares_the_oauth2_password_flow(gateway: Gateway) -> None:
    document = (await gateway.client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    oauth = next(s for s in schemes.values() if s["type"] == "oauth2")
    assert oauth["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert document["paths"]["/api/v1/me"]["get"]["security"]


def test_create_user_makes_a_user_who_can_log_in(gateway_database: str) -> None:
    email = _email("cli")
    env = {**os.environ, "DSP_DATABASE_URL": with_user(gateway_database, role_name("gateway")),
           "DSP_NEW_USER_PASSWORD": "cli-password-1"}
    command = [sys.executable, "-m", "dsp_gateway", "create-user", "--email", email, "--role", "viewer",
               "--organization", "cli-org"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["created"] is True and result["organization"] == "cli-org" and result["role"] == "viewer"
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    with psycopg.connect(gateway_database) as conn:
        row = conn.execute("SELECT u.role, o.name, u.password_hash FROM gateway.users u JOIN gateway.organizations o"
                           " USING (organization_id) WHERE u.email = %s", (email,)).fetchone()
    assert row is not None and row[:2] == ("viewer", "cli-org") and row[2].startswith("$argon2id$")


async def test_an_api_key_with_an_expiry_works_until_then_and_fails_after(gateway: Gateway) -> None:
    past = await gateway.client.post("/api/v1/api-keys", json={"name": "late", "expires_at": "2020-01-01T00:00:00Z"},
                                     headers=gateway.admin)
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "expires_at"

    created = await gateway.client.post("/api/v1/api-keys", json={"name": "nightly", "expires_at": "2099-06-30T12:00:00"},
                                        headers=gateway.admin)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["expires_at"].startswith("2099-06-30T12:00:00") and data["expires_at"].endswith("+00:00")
    key = {"X-API-Key": data["key"]}
    assert (await gateway.client.get("/api/v1/me", headers=key)).status_code == 200

    gateway.sql("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE api_key_id = %s RETURNING 1",
                (data["id"],))
    await asyncio.sleep(1.05)  # a change made outside the gateway's process is seen within DSP_AUTH_CACHE_S (1 s)
    _is_401(await gateway.client.get("/api/v1/me", headers=key))
    listed = (await gateway.client.get("/api/v1/api-keys", headers=gateway.admin)).json()["data"]["items"]
    mine = next(item for item in listed if item["id"] == data["id"])
    assert mine["status"] == "expired" and mine["revoked_at"] is None
