"""The gateway's database in SQLite (``dsp serve``): the read model, deletions and identity, under the same
rules as the Postgres adapters, and the storage whose write transaction puts events in the SQLite outbox.

The tables are in ``migrations_sqlite``. Values go in as text (uuids, JSON, UTC timestamps of fixed width)
and come out as the Postgres adapters give them: the read model's rows JSON-ready (ids and times as text,
JSON decoded), the identity records typed.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from mesh_kit.deletion import dataset_sha256
from mesh_kit.ports import UnitOfWork
from mesh_kit.sqlite import SqliteConnection, SqliteDatabase, SqliteUnitOfWork

from ..domain.accounts import ApiKeyRecord, AuditEntry, Organization, UserRecord
from ..domain.identity import Role
from ..domain.jobs import JobUpdate
from ..ports import GatewayStorage
from .deletions import DeletionRecord, DeletionStart, GatewayRepository, prefixes_of, record_of
from .idempotency import SqliteIdempotencyKeys
from .identity import KEY_COLUMNS, USER_SELECT, EmailTaken, IdentityRepository, SqlIdentityRepository
from .repository import SqlReadModel

__all__ = ["SqliteGatewayRepository", "SqliteGatewayStorage", "SqliteIdentityRepository", "SqliteReadModel"]

_JSON = frozenset({"cancellation", "raw", "parquet", "ingest_report", "profile", "columns", "error", "options", "results", "html",
                   "pdf", "payload", "services", "acks", "artifact_prefixes", "analysis_result", "pipeline",
                   "validation"})
_KEYS = frozenset({"name_key", "email_key"})  # the lower-cased lookup columns, never shown


def _ts(moment: datetime) -> str:
    """A timestamp as stored: UTC, microseconds always written, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _qmarks(query: str) -> str:
    """A query written for psycopg (``%s``) in SQLite's placeholders."""
    return query.replace("%s", "?")


def _stored(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """Parameters as the columns hold them: a datetime as ``_ts`` text."""
    return tuple(_ts(value) if isinstance(value, datetime) else value for value in params)


def _now() -> str:
    return _ts(datetime.now(UTC))


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """A read-model row as the Postgres adapter answers it: JSON decoded, the rest as stored (text)."""
    if row is None:
        return None
    return {key: json.loads(value) if key in _JSON and value is not None else value
            for key, value in dict(row).items() if key not in _KEYS}


_MODEL_SELECT = (
    "SELECT m.model_id, m.job_id, m.dataset_id, m.created_at, d.display_name AS dataset_name,"
    " json_extract(j.results, '$.analysis_result') AS analysis_result,"
    " json_extract(j.results, '$.pipeline') AS pipeline,"
    " coalesce(json_extract(j.results, '$.profile'), d.profile) AS profile,"
    " json_extract(j.options, '$.analysis.target') AS target"
    " FROM models m JOIN jobs j ON j.job_id = m.job_id LEFT JOIN datasets d ON d.dataset_id = m.dataset_id"
    " WHERE m.organization_id = %s"
)


class SqliteReadModel(SqlReadModel):
    """On one SQLite connection; the caller holds the transaction."""

    model_select = _MODEL_SELECT

    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        return _row((await self.conn.execute(_qmarks(query), params)).fetchone())

    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [_row(r) or {} for r in (await self.conn.execute(_qmarks(query), params)).fetchall()]

    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO job_events (event_id, job_id, routing_key, producer, payload, occurred_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (event_id, job_id, routing_key, producer, json.dumps(payload), _ts(occurred_at)))

    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
        job = await self.get_job(job_id)
        if job is None or job["status"] in ("completed", "failed", "cancelled"):
            return job
        # a shallow merge, as Postgres' jsonb ||: a key the update sets replaces the stored one
        results = {**job["results"], **update.results.stored()}
        await self.conn.execute(
            "UPDATE jobs SET status = coalesce(?, status), stage = coalesce(?, stage),"
            " progress = max(progress, coalesce(?, progress)),"
            " error_code = coalesce(?, error_code), error_message = coalesce(?, error_message),"
            " results = ?, updated_at = ? WHERE job_id = ?",
            (update.status, update.stage, update.progress, update.error_code, update.error_message,
             json.dumps(results), _now(), job_id))
        return await self.get_job(job_id)

    async def mark_cancelled(self, job_id: uuid.UUID, cancellation: dict[str, Any]) -> dict[str, Any] | None:
        return await self._one(
            "UPDATE jobs SET status = 'cancelled', cancellation = %s, updated_at = %s"
            " WHERE job_id = %s AND status NOT IN ('completed', 'failed', 'cancelled') RETURNING *",
            (json.dumps(cancellation), _now(), job_id))

    async def add_cancel_ack(self, job_id: uuid.UUID, ack: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE jobs SET cancellation = json_insert(cancellation, '$.stages[#]', json(?)), updated_at = ?"
            " WHERE job_id = ? AND cancellation IS NOT NULL", (json.dumps(ack), _now(), job_id))

    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None:
        if not fields:
            return
        if "display_name" in fields:
            fields["name_key"] = str(fields["display_name"]).lower()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        await self.conn.execute(f"UPDATE datasets SET {assignments}, updated_at = ? WHERE dataset_id = ?",
                                (*values, _now(), dataset_id))

    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
        await self.conn.execute(
            "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html, pdf, organization_id, owner_id, created_at)"
            " SELECT ?, job_id, ?, ?, ?, organization_id, owner_id, ? FROM jobs WHERE job_id = ?"
            " ON CONFLICT (dashboard_id) DO NOTHING",
            (dashboard_id, dataset_id, json.dumps(html), _json(pdf), _now(), job_id))

    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        await self.conn.execute(
            "INSERT INTO models (model_id, job_id, dataset_id, organization_id, owner_id, created_at)"
            " SELECT ?, job_id, ?, organization_id, owner_id, ? FROM jobs WHERE job_id = ?"
            " ON CONFLICT (model_id) DO NOTHING",
            (model_id, dataset_id, _now(), job_id))

    async def insert_dataset(self, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                             raw: dict[str, Any], upload_job_id: uuid.UUID, organization_id: uuid.UUID,
                             owner_id: uuid.UUID) -> None:
        now = _now()
        await self.conn.execute(
            "INSERT INTO datasets (dataset_id, display_name, name_key, status, size_bytes, raw, upload_job_id,"
            " organization_id, owner_id, created_at, updated_at) VALUES (?, ?, ?, 'uploaded', ?, ?, ?, ?, ?, ?, ?)",
            (dataset_id, display_name, display_name.lower(), size_bytes, json.dumps(raw), upload_job_id,
             organization_id, owner_id, now, now))

    async def insert_job(self, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID, options: dict[str, Any],
                         organization_id: uuid.UUID, owner_id: uuid.UUID,
                         parent_job_id: uuid.UUID | None = None, dataset_id_b: uuid.UUID | None = None) -> None:
        now = _now()
        await self.conn.execute(
            "INSERT INTO jobs (job_id, kind, dataset_id, dataset_id_b, parent_job_id, status, options, organization_id,"
            " owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            (job_id, kind, dataset_id, dataset_id_b, parent_job_id, json.dumps(options), organization_id, owner_id,
             now, now))

    async def lock_analysis_quota(self, organization_id: uuid.UUID) -> None:
        """Nothing to take: the write transaction holds the database's only writer until it ends."""

    async def list_datasets(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                            q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        where, params = "organization_id = ?", [str(organization_id)]
        if q:
            where += " AND instr(name_key, ?) > 0"  # a substring, not a pattern: % and _ are plain characters
            params.append(q.lower())
        rows = await self._all(
            "SELECT dataset_id, display_name, status, size_bytes, row_count,"
            " CASE WHEN json_type(columns) = 'array' THEN json_array_length(columns) END AS column_count,"
            " quality_score, json_extract(validation, '$.status') AS validation_status,"
            f" owner_id, created_at, updated_at FROM datasets WHERE {where}"
            " ORDER BY created_at DESC, dataset_id LIMIT ? OFFSET ?", (*params, limit, offset))
        total = (await self.conn.execute(f"SELECT count(*) FROM datasets WHERE {where}", tuple(params))).fetchone()
        return rows, int(total[0]) if total else 0
def _deletion(row: sqlite3.Row | None) -> DeletionRecord | None:
    if row is None:
        return None
    values = _row(row) or {}
    for name in ("deletion_id", "dataset_id", "organization_id"):
        values[name] = uuid.UUID(values[name]) if values[name] is not None else None
    for name in ("requested_at", "completed_at"):
        values[name] = _time(values[name])
    return record_of(values)


class SqliteGatewayRepository(SqliteReadModel, SqliteIdempotencyKeys, GatewayRepository):
    """The read model with the deletions, on one SQLite connection."""

    async def _pending(self, digest: str) -> DeletionRecord | None:
        return _deletion((await self.conn.execute(
            "SELECT * FROM deletions WHERE dataset_sha256 = ? AND status = 'pending' ORDER BY requested_at LIMIT 1",
            (digest,))).fetchone())

    async def start_deletion(self, *, deletion_id: uuid.UUID, dataset_id: uuid.UUID, reason: str,
                             requested_at: datetime, services: tuple[str, ...],
                             organization_id: uuid.UUID | None = None) -> DeletionStart | None:
        conn, digest = self.conn, dataset_sha256(dataset_id)
        dataset = (await conn.execute("SELECT raw, organization_id FROM datasets WHERE dataset_id = ?",
                                      (dataset_id,))).fetchone()
        pending = await self._pending(digest)
        if pending is not None:
            if organization_id is not None and pending.organization_id != organization_id:
                return None
            return DeletionStart(record=pending, created=False)
        if dataset is None or (organization_id is not None and dataset["organization_id"] != str(organization_id)):
            return None
        # the dataset's jobs, the comparisons that name it second included
        of_jobs = "SELECT job_id FROM jobs WHERE dataset_id = ? OR dataset_id_b = ?"
        jobs = [(uuid.UUID(r["job_id"]), json.loads(r["results"])) for r in (await conn.execute(
            "SELECT job_id, results FROM jobs WHERE dataset_id = ? OR dataset_id_b = ?",
            (dataset_id, dataset_id))).fetchall()]
        dashboards = [uuid.UUID(r[0]) for r in (await conn.execute(
            f"SELECT dashboard_id FROM dashboards WHERE dataset_id = ? OR job_id IN ({of_jobs})",
            (dataset_id, dataset_id, dataset_id))).fetchall()]
        prefixes = prefixes_of(dataset_id, jobs, dashboards)
        await conn.execute(f"DELETE FROM job_events WHERE job_id IN ({of_jobs})", (dataset_id, dataset_id))
        for table in ("dashboards", "models"):
            await conn.execute(f"DELETE FROM {table} WHERE dataset_id = ? OR job_id IN ({of_jobs})",
                               (dataset_id, dataset_id, dataset_id))
        await conn.execute("DELETE FROM jobs WHERE dataset_id = ? OR dataset_id_b = ?", (dataset_id, dataset_id))
        await conn.execute("DELETE FROM datasets WHERE dataset_id = ?", (dataset_id,))
        owner = uuid.UUID(dataset["organization_id"])
        record = DeletionRecord(deletion_id=deletion_id, dataset_sha256=digest, dataset_id=dataset_id, reason=reason,
                                status="pending", services=services, acks={}, artifact_prefixes=prefixes,
                                requested_at=requested_at, organization_id=owner)
        await conn.execute(
            "INSERT INTO deletions (deletion_id, dataset_sha256, dataset_id, reason, status, services,"
            " artifact_prefixes, requested_at, organization_id) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            (deletion_id, digest, dataset_id, reason, json.dumps(list(services)), json.dumps(list(prefixes)),
             _ts(requested_at), owner))
        raw = json.loads(dataset["raw"]) or {}
        return DeletionStart(record=record, created=True, job_ids=tuple(job for job, _ in jobs), raw_key=raw.get("key"))

    async def get_deletion(self, deletion_id: uuid.UUID, *,
                           organization_id: uuid.UUID | None = None) -> DeletionRecord | None:
        record = _deletion((await self.conn.execute("SELECT * FROM deletions WHERE deletion_id = ?",
                                                    (deletion_id,))).fetchone())
        if record is not None and organization_id is not None and record.organization_id != organization_id:
            return None
        return record

    async def record_purge(self, deletion_id: uuid.UUID, *, service: str, rows: int,
                           artifacts: int) -> DeletionRecord | None:
        record = await self.get_deletion(deletion_id)
        if record is None or record.status != "pending":
            return record
        acks = {**record.acks, service: {"rows_deleted": rows, "artifacts_deleted": artifacts}}
        await self.conn.execute("UPDATE deletions SET acks = ? WHERE deletion_id = ?", (json.dumps(acks), deletion_id))
        return await self.get_deletion(deletion_id)

    async def complete_deletion(self, deletion_id: uuid.UUID) -> None:
        await self.conn.execute(
            "UPDATE deletions SET status = 'completed', completed_at = ?, dataset_id = NULL,"
            " artifact_prefixes = '[]' WHERE deletion_id = ?", (_now(), deletion_id))

    async def expired_datasets(self, created_before: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = (await self.conn.execute(
            "SELECT dataset_id FROM datasets WHERE created_at < ? ORDER BY created_at LIMIT ?",
            (_ts(created_before), limit))).fetchall()
        return [uuid.UUID(r[0]) for r in rows]


# -- identity ----------------------------------------------------------------------------------
_IDS = ("user_id", "organization_id", "api_key_id", "token_id", "family_id")
_TIMES = ("created_at", "updated_at", "last_used_at", "revoked_at", "expires_at", "used_at")


def _typed(row: sqlite3.Row) -> dict[str, Any]:
    """An identity row with its ids as uuids, its times as datetimes and its flags as booleans."""
    values = dict(row)
    for key in _IDS:
        if values.get(key) is not None:
            values[key] = uuid.UUID(values[key])
    for key in _TIMES:
        if key in values:
            values[key] = _time(values[key])
    if "disabled" in values:
        values["disabled"] = bool(values["disabled"])
    return values


class SqliteIdentityRepository(SqlIdentityRepository):
    """On one SQLite connection in a write transaction (which holds the database's only writer, so a token
    read "for update" cannot be used by another request before this one ends)."""

    row_lock = ""  # the transaction holds the database's only writer already

    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        row = (await self.conn.execute(_qmarks(query), _stored(params))).fetchone()
        return None if row is None else _typed(row)

    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [_typed(r) for r in (await self.conn.execute(_qmarks(query), _stored(params))).fetchall()]

    async def _execute(self, query: str, params: tuple[Any, ...]) -> None:
        await self.conn.execute(_qmarks(query), _stored(params))

    async def _count(self, query: str, params: tuple[Any, ...]) -> int:
        row = (await self.conn.execute(query, params)).fetchone()
        return int(row[0]) if row else 0

    async def organization_named(self, name: str) -> Organization | None:
        row = await self._one("SELECT organization_id, name, created_at FROM organizations WHERE name_key = ?",
                              (name.strip().lower(),))
        return None if row is None else Organization(**row)

    async def ensure_organization(self, name: str) -> Organization:
        await self.conn.execute("INSERT INTO organizations (organization_id, name, name_key, created_at)"
                                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                (uuid.uuid4(), name.strip(), name.strip().lower(), _now()))
        org = await self.organization_named(name)
        assert org is not None
        return org

    async def user_by_email(self, email: str) -> UserRecord | None:
        row = await self._one(f"{USER_SELECT} WHERE u.email_key = ? AND u.deleted_at IS NULL", (email.lower(),))
        return None if row is None else UserRecord(**row)

    async def add_user(self, *, organization_id: uuid.UUID, email: str, password_hash: str, role: Role) -> UserRecord:
        user_id, now = uuid.uuid4(), _now()
        try:  # a failed statement leaves the transaction as it was, as Postgres' savepoint does
            await self.conn.execute(
                "INSERT INTO users (user_id, organization_id, email, email_key, password_hash, role, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, organization_id, email, email.lower(), password_hash, role, now, now))
        except sqlite3.IntegrityError as exc:
            if "users.email_key" in str(exc):
                raise EmailTaken(email) from None
            raise
        created = await self.user(user_id)
        assert created is not None
        return created

    async def change_user(self, user_id: uuid.UUID, *, role: Role | None = None, disabled: bool | None = None,
                          password_hash: str | None = None) -> UserRecord | None:
        await self.conn.execute(
            "UPDATE users SET role = coalesce(?, role), disabled = coalesce(?, disabled),"
            " password_hash = coalesce(?, password_hash), updated_at = ?"
            " WHERE user_id = ? AND deleted_at IS NULL",
            (role, None if disabled is None else int(disabled), password_hash, _now(), user_id))
        return await self.user(user_id)

    async def delete_user(self, user_id: uuid.UUID, *, now: datetime) -> None:
        await self.conn.execute("UPDATE users SET deleted_at = ?, disabled = 1, password_hash = '', updated_at = ?"
                                " WHERE user_id = ? AND deleted_at IS NULL", (_ts(now), _ts(now), user_id))
        await self.revoke_user_sessions(user_id, now=now)
        await self.conn.execute("UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                                (_ts(now), user_id))

    async def add_refresh_token(self, *, family_id: uuid.UUID, user_id: uuid.UUID, token_hash: str,
                                expires_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (uuid.uuid4(), family_id, user_id, token_hash, _now(), _ts(expires_at)))

    async def add_api_key(self, *, user_id: uuid.UUID, organization_id: uuid.UUID, name: str, role: Role,
                          key_hash: str, expires_at: datetime | None = None) -> ApiKeyRecord:
        row = await self._one(
            "INSERT INTO api_keys (api_key_id, user_id, organization_id, name, role, key_hash, created_at, expires_at)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {KEY_COLUMNS}",
            (uuid.uuid4(), user_id, organization_id, name, role, key_hash, _now(), expires_at))
        assert row is not None
        return ApiKeyRecord(**row)

    async def live_api_key(self, key_hash: str, *, now: datetime) -> ApiKeyRecord | None:
        # no cache: a revoked key fails on its next request
        row = await self._one(
            "UPDATE api_keys SET last_used_at = ? WHERE key_hash = ? AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)"
            f" AND (last_used_at IS NULL OR last_used_at < ?) RETURNING {KEY_COLUMNS}",
            (now, key_hash, now, now - timedelta(seconds=5)))
        if row is None:
            row = await self._one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"
                                  " AND (expires_at IS NULL OR expires_at > ?)", (key_hash, now))
        return None if row is None else ApiKeyRecord(**row)

    async def append_audit(self, entry: AuditEntry) -> None:
        await self.conn.execute(
            "INSERT INTO audit_log (at, request_id, user_id, api_key_id, organization_id, subject, action, target_id,"
            " status, client_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), entry.request_id, entry.user_id, entry.api_key_id, entry.organization_id, entry.subject,
             entry.action, entry.target_id, entry.status, entry.client_ip))

    async def audit_of(self, organization_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = (await self.conn.execute(
            "SELECT audit_id, at, request_id, user_id, api_key_id, organization_id, subject, action, target_id,"
            " status, client_ip FROM audit_log WHERE organization_id = ? ORDER BY audit_id DESC LIMIT ? OFFSET ?",
            (organization_id, limit, offset))).fetchall()
        total = await self._count("SELECT count(*) FROM audit_log WHERE organization_id = ?", (organization_id,))
        return [dict(r) for r in rows], total


# -- the storage port --------------------------------------------------------------------------
class SqliteGatewayStorage(GatewayStorage):
    """Sessions over the gateway's SQLite database. A write is one transaction on the database's writer; its
    events go to the SQLite outbox with it, and the local bus (woken by the commit) delivers them."""

    def __init__(self, database: SqliteDatabase) -> None:
        self.database = database

    @asynccontextmanager
    async def read(self) -> AsyncIterator[GatewayRepository]:
        async with self.database.read() as conn:
            yield SqliteGatewayRepository(conn)

    @asynccontextmanager
    async def write(self, job_id: uuid.UUID) -> AsyncIterator[UnitOfWork[GatewayRepository]]:
        async with self.database.transaction() as conn:
            yield SqliteUnitOfWork(conn=conn, job_id=job_id, producer="gateway", repo=SqliteGatewayRepository(conn))

    @asynccontextmanager
    async def identity(self) -> AsyncIterator[IdentityRepository]:
        async with self.database.transaction() as conn:
            yield SqliteIdentityRepository(conn)
