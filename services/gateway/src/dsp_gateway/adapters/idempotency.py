"""The stored first responses of requests sent with an ``Idempotency-Key``: the port, in Postgres, SQLite and
in memory (table ``idempotency_keys``, migration 0010).

A key belongs to one user. ``claim`` runs in the transaction that creates what the request creates (the
dataset, the job), before anything else: a second request with the key, even one running at the same moment,
finds it taken (Postgres makes it wait until the first transaction ended), so its own transaction rolls back
and it replays the first response instead. An expired key counts as free, and each claim deletes a few
expired ones.
"""

from __future__ import annotations

import abc
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

__all__ = ["IdempotencyKeys", "InMemoryIdempotencyKeys", "PostgresIdempotencyKeys", "SqliteIdempotencyKeys",
           "StoredResponse"]


SWEEP_PER_CLAIM = 20
"""Expired keys deleted by each claim: more than one request creates, so they never pile up."""


@dataclass(frozen=True)
class StoredResponse:
    """The response kept for a key: the request it answered (``route``, ``fingerprint``) and what it answered.
    ``completed`` is False while the first request still works on its final answer (``status_code`` and
    ``body`` are then its provisional 202)."""

    route: str
    fingerprint: str
    status_code: int
    body: dict[str, Any]
    completed: bool


class IdempotencyKeys(abc.ABC):
    """Port: the first response to each (user, Idempotency-Key)."""

    @abc.abstractmethod
    async def find_idempotent(self, owner_id: uuid.UUID, key: str) -> StoredResponse | None:
        """The response kept for the key, unless none is or it expired."""

    @abc.abstractmethod
    async def claim_idempotency_key(self, owner_id: uuid.UUID, key: str, response: StoredResponse, *,
                                    expires_at: datetime) -> bool:
        """Take the key for this request with its first response; False when a live one holds it already."""

    @abc.abstractmethod
    async def complete_idempotency_key(self, owner_id: uuid.UUID, key: str, status_code: int,
                                       body: dict[str, Any]) -> None:
        """Replace the provisional response by the final one."""


def _stored(row: Any) -> StoredResponse:
    body = row[3] if isinstance(row[3], dict) else json.loads(row[3])
    return StoredResponse(route=row[0], fingerprint=row[1], status_code=int(row[2]), body=body,
                          completed=bool(row[4]))


class PostgresIdempotencyKeys(IdempotencyKeys):
    conn: AsyncConnection

    async def find_idempotent(self, owner_id: uuid.UUID, key: str) -> StoredResponse | None:
        row = await (await self.conn.execute(
            "SELECT route, fingerprint, status_code, body, completed FROM idempotency_keys"
            " WHERE owner_id = %s AND idempotency_key = %s AND expires_at > now()", (owner_id, key))).fetchone()
        return None if row is None else _stored(row)

    async def claim_idempotency_key(self, owner_id: uuid.UUID, key: str, response: StoredResponse, *,
                                    expires_at: datetime) -> bool:
        await self.conn.execute(  # a few expired keys go with each claim: the table holds about a day of keys
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys"
            " WHERE expires_at <= now() LIMIT %s FOR UPDATE SKIP LOCKED))", (SWEEP_PER_CLAIM,))
        # a request holding the key in an open transaction makes this wait for its end; a live key then
        # stays as it is (nothing returned), an expired one is taken over
        row = await (await self.conn.execute(
            "INSERT INTO idempotency_keys (owner_id, idempotency_key, route, fingerprint, status_code, body,"
            " completed, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (owner_id, idempotency_key) DO UPDATE SET route = excluded.route,"
            " fingerprint = excluded.fingerprint, status_code = excluded.status_code, body = excluded.body,"
            " completed = excluded.completed, created_at = now(), expires_at = excluded.expires_at"
            " WHERE idempotency_keys.expires_at <= now() RETURNING 1",
            (owner_id, key, response.route, response.fingerprint, response.status_code, Jsonb(response.body),
             response.completed, expires_at))).fetchone()
        return row is not None

    async def complete_idempotency_key(self, owner_id: uuid.UUID, key: str, status_code: int,
                                       body: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET status_code = %s, body = %s, completed = true"
            " WHERE owner_id = %s AND idempotency_key = %s", (status_code, Jsonb(body), owner_id, key))


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class SqliteIdempotencyKeys(IdempotencyKeys):
    """The same rules on SQLite, whose single writer serialises the transactions that claim."""

    conn: Any  # mesh_kit.sqlite.SqliteConnection

    async def find_idempotent(self, owner_id: uuid.UUID, key: str) -> StoredResponse | None:
        row = (await self.conn.execute(
            "SELECT route, fingerprint, status_code, body, completed FROM idempotency_keys"
            " WHERE owner_id = ? AND idempotency_key = ? AND expires_at > ?",
            (str(owner_id), key, _now_text()))).fetchone()
        return None if row is None else _stored(row)

    async def claim_idempotency_key(self, owner_id: uuid.UUID, key: str, response: StoredResponse, *,
                                    expires_at: datetime) -> bool:
        now = _now_text()
        await self.conn.execute("DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys"
                                " WHERE expires_at <= ? LIMIT ?)", (now, SWEEP_PER_CLAIM))
        row = (await self.conn.execute(
            "INSERT INTO idempotency_keys (owner_id, idempotency_key, route, fingerprint, status_code, body,"
            " completed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (owner_id, idempotency_key) DO UPDATE SET route = excluded.route,"
            " fingerprint = excluded.fingerprint, status_code = excluded.status_code, body = excluded.body,"
            " completed = excluded.completed, created_at = excluded.created_at, expires_at = excluded.expires_at"
            " WHERE idempotency_keys.expires_at <= ? RETURNING 1",
            (str(owner_id), key, response.route, response.fingerprint, response.status_code,
             json.dumps(response.body), int(response.completed), now,
             expires_at.astimezone(UTC).isoformat(timespec="microseconds"), now))).fetchone()
        return row is not None

    async def complete_idempotency_key(self, owner_id: uuid.UUID, key: str, status_code: int,
                                       body: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET status_code = ?, body = ?, completed = 1"
            " WHERE owner_id = ? AND idempotency_key = ?", (status_code, json.dumps(body), str(owner_id), key))


class InMemoryIdempotencyKeys(IdempotencyKeys):
    """The same rules in a dict (expired keys are replaced, not swept)."""

    def __init__(self) -> None:
        self.idempotency: dict[tuple[uuid.UUID, str], tuple[StoredResponse, datetime]] = {}

    async def find_idempotent(self, owner_id: uuid.UUID, key: str) -> StoredResponse | None:
        found = self.idempotency.get((owner_id, key))
        return found[0] if found is not None and found[1] > datetime.now(UTC) else None

    async def claim_idempotency_key(self, owner_id: uuid.UUID, key: str, response: StoredResponse, *,
                                    expires_at: datetime) -> bool:
        if await self.find_idempotent(owner_id, key) is not None:
            return False
        self.idempotency[(owner_id, key)] = (response, expires_at)
        return True

    async def complete_idempotency_key(self, owner_id: uuid.UUID, key: str, status_code: int,
                                       body: dict[str, Any]) -> None:
        found = self.idempotency.get((owner_id, key))
        if found is not None:
            response, expires_at = found
            self.idempotency[(owner_id, key)] = (StoredResponse(
                route=response.route, fingerprint=response.fingerprint, status_code=status_code, body=body,
                completed=True), expires_at)
