"""Postgres adapter for the gateway's read model."""

from __future__ import annotations

import abc
import json
import uuid
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ..domain.jobs import JobUpdate

NOBODY = uuid.UUID(int=0)  # the organisation and owner of rows written before accounts existed (0003_ownership)

__all__ = [
    "NOBODY",
    "InMemoryReadModel",
    "PostgresReadModel",
    "ReadModel",
    "apply_job_update",
    "count_active_analyses",
    "get_dashboard",
    "get_dataset",
    "get_job",
    "get_model",
    "insert_dashboard",
    "insert_dataset",
    "insert_job",
    "insert_model",
    "list_datasets",
    "owned_rows",
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


async def _all(conn: AsyncConnection, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return [_jsonable(r) or {} for r in await cur.fetchall()]


async def insert_dataset(conn: AsyncConnection, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                         raw: dict[str, Any], upload_job_id: uuid.UUID, organization_id: uuid.UUID,
                         owner_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO datasets (dataset_id, display_name, status, size_bytes, raw, upload_job_id, organization_id,"
        " owner_id) VALUES (%s, %s, 'uploaded', %s, %s, %s, %s, %s)",
        (dataset_id, display_name, size_bytes, json.dumps(raw), upload_job_id, organization_id, owner_id),
    )


async def insert_job(conn: AsyncConnection, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID,
                     options: dict[str, Any], organization_id: uuid.UUID, owner_id: uuid.UUID,
                     parent_job_id: uuid.UUID | None = None) -> None:
    await conn.execute(
        "INSERT INTO jobs (job_id, kind, dataset_id, parent_job_id, status, options, organization_id, owner_id)"
        " VALUES (%s, %s, %s, %s, 'queued', %s, %s, %s)",
        (job_id, kind, dataset_id, parent_job_id, json.dumps(options), organization_id, owner_id),
    )


# Reads for the API: every one is scoped to the caller's organisation, so another organisation's
# object is indistinguishable from a missing one. The event handler uses the unscoped _rows below.

async def get_dataset(conn: AsyncConnection, dataset_id: uuid.UUID, *,
                      organization_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM datasets WHERE dataset_id = %s AND organization_id = %s",
                      (dataset_id, organization_id))


async def list_datasets(conn: AsyncConnection, *, organization_id: uuid.UUID, limit: int,
                        offset: int) -> tuple[list[dict[str, Any]], int]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT dataset_id, display_name, status, size_bytes, row_count,"
            " CASE WHEN jsonb_typeof(columns) = 'array' THEN jsonb_array_length(columns) END AS column_count,"
            " quality_score, owner_id, created_at, updated_at FROM datasets WHERE organization_id = %s"
            " ORDER BY created_at DESC, dataset_id LIMIT %s OFFSET %s",
            (organization_id, limit, offset),
        )
        rows = [_jsonable(r) or {} for r in await cur.fetchall()]
        await cur.execute("SELECT count(*) AS n FROM datasets WHERE organization_id = %s", (organization_id,))
        total = (await cur.fetchone() or {"n": 0})["n"]
    return rows, int(total)


async def get_job(conn: AsyncConnection, job_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM jobs WHERE job_id = %s AND organization_id = %s",
                      (job_id, organization_id))


async def get_dashboard(conn: AsyncConnection, dashboard_id: uuid.UUID, *,
                        organization_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM dashboards WHERE dashboard_id = %s AND organization_id = %s",
                      (dashboard_id, organization_id))


async def get_model(conn: AsyncConnection, model_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM models WHERE model_id = %s AND organization_id = %s",
                      (model_id, organization_id))


async def count_active_analyses(conn: AsyncConnection, *, organization_id: uuid.UUID) -> int:
    """The organisation's analysis jobs not yet completed or failed (the AutoML concurrency quota)."""
    row = await _one(conn, "SELECT count(*) AS n FROM jobs WHERE organization_id = %s AND kind = 'analysis'"
                           " AND status IN ('queued', 'running')", (organization_id,))
    return int((row or {"n": 0})["n"])


_OWNED = {
    "datasets": "SELECT * FROM datasets WHERE owner_id = %s AND organization_id = %s ORDER BY created_at, dataset_id",
    "jobs": "SELECT * FROM jobs WHERE owner_id = %s AND organization_id = %s ORDER BY created_at, job_id",
    "dashboards": "SELECT * FROM dashboards WHERE owner_id = %s AND organization_id = %s"
                  " ORDER BY created_at, dashboard_id",
    "models": "SELECT * FROM models WHERE owner_id = %s AND organization_id = %s ORDER BY created_at, model_id",
}


async def owned_rows(conn: AsyncConnection, table: str, *, owner_id: uuid.UUID,
                     organization_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every row of ``table`` (datasets, jobs, dashboards, models) the user owns in their organisation."""
    return await _all(conn, _OWNED[table], (owner_id, organization_id))


async def _job_row(conn: AsyncConnection, job_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM jobs WHERE job_id = %s", (job_id,))


async def _dataset_row(conn: AsyncConnection, dataset_id: uuid.UUID) -> dict[str, Any] | None:
    return await _one(conn, "SELECT * FROM datasets WHERE dataset_id = %s", (dataset_id,))


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
    return await _job_row(conn, job_id)


async def update_dataset(conn: AsyncConnection, dataset_id: uuid.UUID, **fields: Any) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{name} = %s" for name in fields)
    values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
    await conn.execute(f"UPDATE datasets SET {assignments}, updated_at = now() WHERE dataset_id = %s",
                       (*values, dataset_id))


async def insert_dashboard(conn: AsyncConnection, *, dashboard_id: uuid.UUID, job_id: uuid.UUID,
                           dataset_id: uuid.UUID, html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
    """A rendered dashboard; it belongs to the organisation and owner of the job that rendered it."""
    await conn.execute(
        "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html, pdf, organization_id, owner_id)"
        " SELECT %s, job_id, %s, %s, %s, organization_id, owner_id FROM jobs WHERE job_id = %s"
        " ON CONFLICT (dashboard_id) DO NOTHING",
        (dashboard_id, dataset_id, json.dumps(html), json.dumps(pdf) if pdf else None, job_id),
    )


async def insert_model(conn: AsyncConnection, *, model_id: uuid.UUID, job_id: uuid.UUID,
                       dataset_id: uuid.UUID) -> None:
    """A model an analysis registered; it belongs to the organisation and owner of that analysis."""
    await conn.execute(
        "INSERT INTO models (model_id, job_id, dataset_id, organization_id, owner_id)"
        " SELECT %s, job_id, %s, organization_id, owner_id FROM jobs WHERE job_id = %s"
        " ON CONFLICT (model_id) DO NOTHING",
        (model_id, dataset_id, job_id),
    )


class ReadModel(abc.ABC):
    """The read model as the event handler changes it: jobs, their events, datasets and dashboards."""

    @abc.abstractmethod
    async def get_job(self, job_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None: ...

    @abc.abstractmethod
    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def get_dataset(self, dataset_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None: ...

    @abc.abstractmethod
    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None: ...

    @abc.abstractmethod
    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None: ...


class PostgresReadModel(ReadModel):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get_job(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        return await _job_row(self.conn, job_id)

    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None:
        await record_event(self.conn, event_id=event_id, job_id=job_id, routing_key=routing_key, producer=producer,
                           payload=payload, occurred_at=occurred_at)

    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
        return await apply_job_update(self.conn, job_id, update)

    async def get_dataset(self, dataset_id: uuid.UUID) -> dict[str, Any] | None:
        return await _dataset_row(self.conn, dataset_id)

    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None:
        await update_dataset(self.conn, dataset_id, **fields)

    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
        await insert_dashboard(self.conn, dashboard_id=dashboard_id, job_id=job_id, dataset_id=dataset_id, html=html,
                               pdf=pdf)

    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        await insert_model(self.conn, model_id=model_id, job_id=job_id, dataset_id=dataset_id)


class InMemoryReadModel(ReadModel):
    """The read model in dicts, with the same rules as the SQL: an ended job changes no more."""

    def __init__(self) -> None:
        self.jobs: dict[uuid.UUID, dict[str, Any]] = {}
        self.datasets: dict[uuid.UUID, dict[str, Any]] = {}
        self.events: dict[uuid.UUID, dict[str, Any]] = {}
        self.dashboards: dict[uuid.UUID, dict[str, Any]] = {}
        self.models: dict[uuid.UUID, dict[str, Any]] = {}

    def add_job(self, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID,
                organization_id: uuid.UUID = NOBODY, owner_id: uuid.UUID = NOBODY) -> None:
        self.jobs[job_id] = {"job_id": str(job_id), "kind": kind, "dataset_id": str(dataset_id), "status": "queued",
                             "stage": None, "progress": 0.0, "error_code": None, "error_message": None, "results": {},
                             "organization_id": str(organization_id), "owner_id": str(owner_id)}

    def add_dataset(self, *, dataset_id: uuid.UUID, upload_job_id: uuid.UUID, raw: dict[str, Any],
                    organization_id: uuid.UUID = NOBODY, owner_id: uuid.UUID = NOBODY) -> None:
        self.datasets[dataset_id] = {"dataset_id": str(dataset_id), "status": "uploaded", "raw": raw,
                                     "upload_job_id": str(upload_job_id), "organization_id": str(organization_id),
                                     "owner_id": str(owner_id)}

    async def get_job(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return dict(job) if job else None

    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None:
        self.events.setdefault(event_id, {"job_id": job_id, "routing_key": routing_key, "producer": producer,
                                          "payload": payload, "occurred_at": occurred_at})

    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        if job is not None and job["status"] not in ("completed", "failed"):
            for name in ("status", "stage", "error_code", "error_message"):
                if getattr(update, name) is not None:
                    job[name] = getattr(update, name)
            if update.progress is not None:
                job["progress"] = max(job["progress"], update.progress)
            job["results"] = {**job["results"], **update.results.stored()}
        return await self.get_job(job_id)

    async def get_dataset(self, dataset_id: uuid.UUID) -> dict[str, Any] | None:
        dataset = self.datasets.get(dataset_id)
        return dict(dataset) if dataset else None

    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None:
        if dataset_id in self.datasets:
            self.datasets[dataset_id].update(fields)

    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        self.dashboards.setdefault(dashboard_id, {"job_id": job_id, "dataset_id": dataset_id, "html": html, "pdf": pdf,
                                                  "organization_id": job["organization_id"],
                                                  "owner_id": job["owner_id"]})

    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        self.models.setdefault(model_id, {"job_id": job_id, "dataset_id": dataset_id,
                                          "organization_id": job["organization_id"], "owner_id": job["owner_id"]})
