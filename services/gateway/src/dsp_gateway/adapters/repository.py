"""Postgres adapter for the gateway's read model."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ..domain.jobs import JobUpdate

__all__ = [
    "apply_job_update",
    "get_dashboard",
    "get_dataset",
    "get_job",
    "insert_dashboard",
    "insert_dataset",
    "insert_job",
    "list_datasets",
    "record_event",
    "update_dataset",
]


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


async def _one(conn: AsyncConnection, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return _jsonable(await cur.fetchone())


async def insert_dataset(conn: AsyncConnection, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                         raw: dict[str, Any], upload_job_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO datasets (dataset_id, display_name, status, size_bytes, raw, upload_job_id)"
        " VALUES (%s, %s, 'uploaded', %s, %s, %s)",
        (dataset_id, display_name, size_bytes, json.dumps(raw), upload_job_id),
    )


async def insert_job(conn: AsyncConnection, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID,
                     options: dict[str, Any], parent_job_id: uuid.UUID | None = None) -> None:
    await conn.execute(
        "INSERT INTO jobs (job_id, kind, dataset_id, parent_job_id, status, options) VALUES (%s, %s, %s, %s, 'queued', %s)",
        (job_id, kind, dataset_id, parent_job_id, json.dumps(options)),
    )


async def get_dataset(conn: AsyncConnection, dataset_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM datasets WHERE dataset_id = %s", (dataset_id,))


async def list_datasets(conn: AsyncConnection, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT dataset_id, display_name, status, size_bytes, row_count, quality_score, created_at, updated_at"
            " FROM datasets ORDER BY created_at DESC, dataset_id LIMIT %s OFFSET %s",
            (limit, offset),
        )
        rows = [_jsonable(r) or {} for r in await cur.fetchall()]
        await cur.execute("SELECT count(*) AS n FROM datasets")
        total = (await cur.fetchone() or {"n": 0})["n"]
    return rows, int(total)


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM jobs WHERE job_id = %s", (job_id,))


async def get_dashboard(conn: AsyncConnection, dashboard_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM dashboards WHERE dashboard_id = %s", (dashboard_id,))


async def record_event(conn: AsyncConnection, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str,
                       producer: str, payload: dict[str, Any], occurred_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO job_events (event_id, job_id, routing_key, producer, payload, occurred_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (event_id, job_id, routing_key, producer, json.dumps(payload), occurred_at),
    )


async def apply_job_update(conn: AsyncConnection, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
    """Apply an update unless the job already ended; returns the job row after it."""
    await conn.execute(
        "UPDATE jobs SET"
        " status = coalesce(%s, status), stage = coalesce(%s, stage),"
        " progress = greatest(progress, coalesce(%s, progress)),"
        " error_code = coalesce(%s, error_code), error_message = coalesce(%s, error_message),"
        " results = results || %s::jsonb, updated_at = now()"
        " WHERE job_id = %s AND status NOT IN ('completed', 'failed')",
        (update.status, update.stage, update.progress, update.error_code, update.error_message,
         json.dumps(update.results.stored()), job_id),
    )
    return await get_job(conn, job_id)


async def update_dataset(conn: AsyncConnection, dataset_id: uuid.UUID, **fields: Any) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{name} = %s" for name in fields)
    values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
    await conn.execute(f"UPDATE datasets SET {assignments}, updated_at = now() WHERE dataset_id = %s",
                       (*values, dataset_id))


async def insert_dashboard(conn: AsyncConnection, *, dashboard_id: uuid.UUID, job_id: uuid.UUID,
                           dataset_id: uuid.UUID, html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
    await conn.execute(
        "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html, pdf) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (dashboard_id) DO NOTHING",
        (dashboard_id, job_id, dataset_id, json.dumps(html), json.dumps(pdf) if pdf else None),
    )
