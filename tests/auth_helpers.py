"""Logging in from tests: seed a user straight into the gateway's schema, then get its Authorization header.

    user_id = seed_user(gateway_database_url, "ana@example.com", "a-long-password", role="analyst")
    headers = await login(client, "ana@example.com", "a-long-password")
    await client.get("/api/v1/datasets", headers=headers)

Or start the gateway with DSP_BOOTSTRAP_ADMIN_EMAIL / DSP_BOOTSTRAP_ADMIN_PASSWORD (ADMIN_EMAIL and
ADMIN_PASSWORD below) and log in as that admin.
"""

from __future__ import annotations

import uuid

import httpx
import psycopg
from dsp_gateway.domain.passwords import hash_password

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "api_key", "login", "seed_user", "tokens"]

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-for-tests"


async def tokens(client: httpx.AsyncClient, email: str, password: str) -> dict[str, object]:
    """The RFC 6749 answer of a password login: access_token, refresh_token, token_type, expires_in."""
    response = await client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    """The headers that authenticate as this user."""
    answer = await tokens(client, email, password)
    return {"Authorization": f"Bearer {answer['access_token']}"}


async def api_key(client: httpx.AsyncClient, headers: dict[str, str], *, name: str = "test",
                  role: str | None = None) -> dict[str, str]:
    """A new API key of the logged-in user, as the X-API-Key header."""
    response = await client.post("/api/v1/api-keys", json={"name": name, "role": role}, headers=headers)
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["data"]["key"]}


def seed_user(database_url: str, email: str, password: str, *, role: str = "analyst",
              organization: str = "default") -> str:
    """Create a user (and its organization if new) in the gateway schema of ``database_url``; its id.

    ``database_url``: the migrated database, as its admin or as the dsp_gateway role.
    """
    with psycopg.connect(database_url) as conn:
        conn.execute("SET search_path = gateway")
        conn.execute("INSERT INTO organizations (organization_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (uuid.uuid4(), organization))
        row = conn.execute("SELECT organization_id FROM organizations WHERE lower(name) = lower(%s)",
                           (organization,)).fetchone()
        assert row is not None
        user_id = uuid.uuid4()
        conn.execute("INSERT INTO users (user_id, organization_id, email, password_hash, role)"
                     " VALUES (%s, %s, %s, %s, %s)", (user_id, row[0], email.strip().lower(), hash_password(password), role))
    return str(user_id)
