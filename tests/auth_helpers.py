"""Logging in from tests: seed a user straight into the gateway's schema, then get its Authorization header.

    user_id = seed_user(gateway_database_url, "ana@example.com", "a-long-password", role="analyst")
    headers = await login(client, "ana@example.com", "a-long-password")
    await client.get("/api/v1/datasets", headers=headers)

Or start the gateway with DSP_BOOTSTRAP_ADMIN_EMAIL / DSP_BOOTSTRAP_ADMIN_PASSWORD (ADMIN_EMAIL and
ADMIN_PASSWORD below) and log in as that admin.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator

import httpx
import psycopg
from dsp_gateway.domain.passwords import hash_password

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "SignedIn", "api_key", "bearer", "login", "seed_user", "tokens"]

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


class SignedIn(httpx.Auth):
    """A user's bearer token for a long-lived client (sync or async), signed in again when the gateway says it is
    no longer valid: an access token lives DSP_ACCESS_TOKEN_TTL_S (15 min by default), and a test session, a chaos
    run or a benchmark outlasts it, as a real client would."""

    requires_request_body = True  # the request is sent again after a new sign-in
    requires_response_body = True  # to read the refusal's code

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url, self.email, self.password = base_url.rstrip("/"), email, password
        self._sign_in()

    def _sign_in(self) -> None:
        answer = httpx.post(f"{self.base_url}/api/v1/auth/token",
                            data={"username": self.email, "password": self.password}, timeout=60)
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        self.signed_in_at = time.monotonic()

    def token(self) -> str:
        """A bearer token with at least 5 of its 15 minutes left (for a WebSocket or a browser)."""
        if time.monotonic() - self.signed_in_at > 600:
            self._sign_in()
        return self.headers["Authorization"].removeprefix("Bearer ")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers)
        response = yield request
        if response.status_code == 401 and "not_authenticated" in response.text:
            self._sign_in()
            request.headers.update(self.headers)
            yield request


def bearer(client: httpx.Client) -> str:
    """The token of a client signed in with ``SignedIn``."""
    assert isinstance(client.auth, SignedIn), client.auth
    return client.auth.token()

