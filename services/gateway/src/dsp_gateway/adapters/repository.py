"""The gateway's read model: its port, and the Postgres and in-memory adapters.

The event handler folds events into it (unscoped: ``get_job``, ``get_dataset``, ...); the API reads it
through the ``find_*`` and ``list_*`` methods, every one scoped to the caller's organisation, so another
organisation's object is indistinguishable from a missing one.
"""

from __future__ import annotations

import abc
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ..domain.datasets import like_pattern
from ..domain.jobs import JobUpdate

NOBODY = uuid.UUID(int=0)  # the organisation and owner of rows written before accounts existed (0003_ownership)

OwnedTable = Literal["datasets", "jobs", "dashboards", "models"]
OWNED_TABLES: tuple[OwnedTable, ...] = ("datasets", "jobs", "dashboards", "models")
KEY_OF: dict[str, str] = {"datasets": "dataset_id", "jobs": "job_id", "dashboards": "dashboard_id",
                          "models": "model_id"}

__all__ = [
    "NOBODY",
    "KEY_OF",
    "OWNED_TABLES",
    "InMemoryReadModel",
    "OwnedTable",
    "PostgresReadModel",
    "ReadModel",
    "SqlReadModel",
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


class ReadModel(abc.ABC):
    """The read model: jobs, their events, datasets, dashboards and models."""

    # -- as the event handler changes it (unscoped) --
    @abc.abstractmethod
    async def get_job(self, job_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None: ...

    @abc.abstractmethod
    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
        """Apply an update unless the job already ended; returns the job row after it."""

    @abc.abstractmethod
    async def mark_cancelled(self, job_id: uuid.UUID, cancellation: dict[str, Any]) -> dict[str, Any] | None:
        """End the job as ``cancelled`` with its ``cancellation`` record, unless it has ended; the job after,
        or None if it had ended (or does not exist)."""

    @abc.abstractmethod
    async def add_cancel_ack(self, job_id: uuid.UUID, ack: dict[str, Any]) -> None:
        """Append one stage's acknowledgement to the cancelled job's ``cancellation.stages``."""

    @abc.abstractmethod
    async def get_dataset(self, dataset_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None: ...

    @abc.abstractmethod
    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
        """A rendered dashboard; it belongs to the organisation and owner of the job that rendered it."""

    @abc.abstractmethod
    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        """A model an analysis registered; it belongs to the organisation and owner of that analysis."""

    # -- as the API writes it --
    @abc.abstractmethod
    async def insert_dataset(self, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                             raw: dict[str, Any], upload_job_id: uuid.UUID, organization_id: uuid.UUID,
                             owner_id: uuid.UUID) -> None: ...

    @abc.abstractmethod
    async def insert_job(self, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID, options: dict[str, Any],
                         organization_id: uuid.UUID, owner_id: uuid.UUID,
                         parent_job_id: uuid.UUID | None = None, dataset_id_b: uuid.UUID | None = None) -> None:
        """A job; a comparison names its second dataset in ``dataset_id_b``."""

    @abc.abstractmethod
    async def lock_analysis_quota(self, organization_id: uuid.UUID) -> None:
        """Serialise the organisation's analysis starts until the transaction ends, so two requests cannot
        both take the last free place."""

    @abc.abstractmethod
    async def count_active_analyses(self, *, organization_id: uuid.UUID) -> int:
        """The organisation's analysis jobs not yet completed or failed (the AutoML concurrency quota)."""

    # -- as the API reads it (scoped to an organisation) --
    @abc.abstractmethod
    async def find_dataset(self, dataset_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def list_datasets(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                            q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of the organisation's datasets, newest first, and how many there are; ``q``: only those whose
        display name contains it, ignoring case (``%`` and ``_`` are plain characters)."""

    async def list_datasets_json(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                                 q: str | None = None) -> tuple[str, int]:
        """``list_datasets`` with the page as the JSON text of its list of rows (for an answer that sends it as
        it is); an adapter may build it in its database."""
        rows, total = await self.list_datasets(organization_id=organization_id, limit=limit, offset=offset, q=q)
        return json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":")), total

    @abc.abstractmethod
    async def find_job(self, job_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def find_dashboard(self, dashboard_id: uuid.UUID, *,
                             organization_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def find_model(self, model_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def list_models(self, *, organization_id: uuid.UUID, limit: int,
                          offset: int) -> tuple[list[dict[str, Any]], int]:
        """A page of the organisation's models, newest first, and how many there are. Each row: model_id, job_id,
        dataset_id, created_at, dataset_name, and of its analysis job analysis_result, pipeline, profile (the
        job's, else the dataset's) and target (the analysis options')."""

    @abc.abstractmethod
    async def find_model_summary(self, model_id: uuid.UUID, *,
                                 organization_id: uuid.UUID) -> dict[str, Any] | None:
        """One model as a row of ``list_models``, if the organisation holds it."""

    @abc.abstractmethod
    async def owned_rows(self, table: OwnedTable, *, owner_id: uuid.UUID,
                         organization_id: uuid.UUID) -> list[dict[str, Any]]:
        """Every row of ``table`` the user owns in their organisation, oldest first."""


_LIST_COLUMNS = (
    "dataset_id, display_name, status, size_bytes, row_count,"
    " CASE WHEN jsonb_typeof(columns) = 'array' THEN jsonb_array_length(columns) END AS column_count,"
    " quality_score, validation->>'status' AS validation_status, owner_id, created_at, updated_at"
)


class SqlReadModel(ReadModel):
    """The reads whose SQL Postgres and SQLite share, written with ``%s`` placeholders; an adapter gives
    ``_one`` and ``_all``, which answer rows JSON-ready (ids and times as text, JSON decoded)."""

    @abc.abstractmethod
    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]: ...

    model_select: str
    """The rows of ``list_models`` (the dialect's JSON operators), ending in ``WHERE m.organization_id = %s``."""

    async def get_job(self, job_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM jobs WHERE job_id = %s", (job_id,))

    async def get_dataset(self, dataset_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM datasets WHERE dataset_id = %s", (dataset_id,))

    async def count_active_analyses(self, *, organization_id: uuid.UUID) -> int:
        row = await self._one("SELECT count(*) AS n FROM jobs WHERE organization_id = %s AND kind = 'analysis'"
                              " AND status IN ('queued', 'running')", (organization_id,))
        return int((row or {"n": 0})["n"])

    async def find_dataset(self, dataset_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM datasets WHERE dataset_id = %s AND organization_id = %s",
                               (dataset_id, organization_id))

    async def find_job(self, job_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM jobs WHERE job_id = %s AND organization_id = %s",
                               (job_id, organization_id))

    async def find_dashboard(self, dashboard_id: uuid.UUID, *,
                             organization_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM dashboards WHERE dashboard_id = %s AND organization_id = %s",
                               (dashboard_id, organization_id))

    async def find_model(self, model_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one("SELECT * FROM models WHERE model_id = %s AND organization_id = %s",
                               (model_id, organization_id))

    async def owned_rows(self, table: OwnedTable, *, owner_id: uuid.UUID,
                         organization_id: uuid.UUID) -> list[dict[str, Any]]:
        key = KEY_OF[table]  # a fixed name: never the caller's text
        return await self._all(f"SELECT * FROM {table} WHERE owner_id = %s AND organization_id = %s"
                               f" ORDER BY created_at, {key}", (owner_id, organization_id))

    async def list_models(self, *, organization_id: uuid.UUID, limit: int,
                          offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self._all(self.model_select + " ORDER BY m.created_at DESC, m.model_id LIMIT %s OFFSET %s",
                               (organization_id, limit, offset))
        total = await self._one("SELECT count(*) AS n FROM models WHERE organization_id = %s", (organization_id,))
        return rows, int((total or {"n": 0})["n"])

    async def find_model_summary(self, model_id: uuid.UUID, *,
                                 organization_id: uuid.UUID) -> dict[str, Any] | None:
        return await self._one(self.model_select + " AND m.model_id = %s", (organization_id, model_id))


_MODEL_SELECT = (
    "SELECT m.model_id, m.job_id, m.dataset_id, m.created_at, d.display_name AS dataset_name,"
    " j.results -> 'analysis_result' AS analysis_result, j.results -> 'pipeline' AS pipeline,"
    " coalesce(j.results -> 'profile', d.profile) AS profile, j.options -> 'analysis' ->> 'target' AS target"
    " FROM models m JOIN jobs j ON j.job_id = m.job_id LEFT JOIN datasets d ON d.dataset_id = m.dataset_id"
    " WHERE m.organization_id = %s"
)


def _iso(column: str) -> str:
    """The SQL of a timestamptz as Python's ``datetime.isoformat`` writes it (in the session's time zone, the
    microseconds only when there are some), what ``_jsonable`` makes of the value psycopg reads."""
    return (f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_part('microseconds', {column})::bigint"
            f" %% 1000000 <> 0 THEN to_char({column}, '.US') ELSE '' END || to_char({column}, 'TZH:TZM')")


def _member(key: str, value: str, *, first: bool = False) -> str:
    return f"'{'{' if first else ','}\"{key}\":' || coalesce({value}, 'null')"


_FLOAT = ("CASE WHEN quality_score = trunc(quality_score) AND abs(quality_score) < 1e15"
          " THEN trunc(quality_score)::bigint::text || '.0' ELSE to_json(quality_score)::text END")
_LIST_JSON = " || ".join([
    _member("dataset_id", "to_json(dataset_id::text)::text", first=True),
    _member("display_name", "to_json(display_name)::text"), _member("status", "to_json(status)::text"),
    _member("size_bytes", "size_bytes::text"), _member("row_count", "row_count::text"),
    _member("column_count", "CASE WHEN jsonb_typeof(columns) = 'array' THEN jsonb_array_length(columns)::text END"),
    _member("quality_score", _FLOAT), _member("validation_status", "to_json(validation->>'status')::text"),
    _member("owner_id", "to_json(owner_id::text)::text"),
    _member("created_at", f"'\"' || {_iso('created_at')} || '\"'"),
    _member("updated_at", f"'\"' || {_iso('updated_at')} || '\"'"),
    "'}'",
])
"""A row of ``list_datasets`` as JSON text, written by PostgreSQL as ``json.dumps`` writes the row that
``list_datasets`` reads (keys in order, no spaces, integral floats with ``.0``)."""


class PostgresReadModel(SqlReadModel):
    """On one connection; the caller holds the transaction."""

    model_select = _MODEL_SELECT

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _one(self, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return _jsonable(await cur.fetchone())

    async def _all(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return [_jsonable(r) or {} for r in await cur.fetchall()]

    async def list_datasets_json(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                                 q: str | None = None) -> tuple[str, int]:
        """The page built by PostgreSQL, in one statement with its count: no row becomes Python objects."""
        where, params = "organization_id = %s", [str(organization_id)]
        if q:
            where += " AND display_name ILIKE %s ESCAPE '\\'"
            params.append(like_pattern(q))
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT '[' || coalesce(string_agg(item, ',' ORDER BY created_at DESC, dataset_id), '') || ']',"
                f" max(total_count)"
                f" FROM (SELECT {_LIST_JSON} AS item, created_at, dataset_id, count(*) OVER () AS total_count"
                f" FROM datasets WHERE {where} ORDER BY created_at DESC, dataset_id LIMIT %s OFFSET %s) page",
                (*params, limit, offset))
            items, total = await cur.fetchone() or ("[]", None)
        if total is None:  # past the last page no row carries the count
            counted = await self._one(f"SELECT count(*) AS n FROM datasets WHERE {where}", tuple(params))
            total = int((counted or {"n": 0})["n"])
        return str(items), int(total)

    async def record_event(self, *, event_id: uuid.UUID, job_id: uuid.UUID, routing_key: str, producer: str,
                           payload: dict[str, Any], occurred_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO job_events (event_id, job_id, routing_key, producer, payload, occurred_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (event_id, job_id, routing_key, producer, json.dumps(payload), occurred_at),
        )

    async def apply_job_update(self, job_id: uuid.UUID, update: JobUpdate) -> dict[str, Any] | None:
        await self.conn.execute(
            "UPDATE jobs SET"
            " status = coalesce(%s, status), stage = coalesce(%s, stage),"
            " progress = greatest(progress, coalesce(%s, progress)),"
            " error_code = coalesce(%s, error_code), error_message = coalesce(%s, error_message),"
            " results = results || %s::jsonb, updated_at = now()"
            " WHERE job_id = %s AND status NOT IN ('completed', 'failed', 'cancelled')",
            (update.status, update.stage, update.progress, update.error_code, update.error_message,
             json.dumps(update.results.stored()), job_id),
        )
        return await self.get_job(job_id)

    async def mark_cancelled(self, job_id: uuid.UUID, cancellation: dict[str, Any]) -> dict[str, Any] | None:
        return await self._one(
            "UPDATE jobs SET status = 'cancelled', cancellation = %s::jsonb, updated_at = now()"
            " WHERE job_id = %s AND status NOT IN ('completed', 'failed', 'cancelled') RETURNING *",
            (json.dumps(cancellation), job_id))

    async def add_cancel_ack(self, job_id: uuid.UUID, ack: dict[str, Any]) -> None:
        await self.conn.execute(
            "UPDATE jobs SET cancellation = jsonb_set(cancellation, '{stages}',"
            " coalesce(cancellation -> 'stages', '[]'::jsonb) || jsonb_build_array(%s::jsonb)), updated_at = now()"
            " WHERE job_id = %s AND cancellation IS NOT NULL", (json.dumps(ack), job_id))

    async def update_dataset(self, dataset_id: uuid.UUID, **fields: Any) -> None:
        if not fields:
            return
        assignments = ", ".join(f"{name} = %s" for name in fields)
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        await self.conn.execute(f"UPDATE datasets SET {assignments}, updated_at = now() WHERE dataset_id = %s",
                                (*values, dataset_id))

    async def insert_dashboard(self, *, dashboard_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID,
                               html: dict[str, Any], pdf: dict[str, Any] | None) -> None:
        await self.conn.execute(
            "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html, pdf, organization_id, owner_id)"
            " SELECT %s, job_id, %s, %s, %s, organization_id, owner_id FROM jobs WHERE job_id = %s"
            " ON CONFLICT (dashboard_id) DO NOTHING",
            (dashboard_id, dataset_id, json.dumps(html), json.dumps(pdf) if pdf else None, job_id),
        )

    async def insert_model(self, *, model_id: uuid.UUID, job_id: uuid.UUID, dataset_id: uuid.UUID) -> None:
        await self.conn.execute(
            "INSERT INTO models (model_id, job_id, dataset_id, organization_id, owner_id)"
            " SELECT %s, job_id, %s, organization_id, owner_id FROM jobs WHERE job_id = %s"
            " ON CONFLICT (model_id) DO NOTHING",
            (model_id, dataset_id, job_id),
        )

    async def insert_dataset(self, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                             raw: dict[str, Any], upload_job_id: uuid.UUID, organization_id: uuid.UUID,
                             owner_id: uuid.UUID) -> None:
        await self.conn.execute(
            "INSERT INTO datasets (dataset_id, display_name, status, size_bytes, raw, upload_job_id, organization_id,"
            " owner_id) VALUES (%s, %s, 'uploaded', %s, %s, %s, %s, %s)",
            (dataset_id, display_name, size_bytes, json.dumps(raw), upload_job_id, organization_id, owner_id),
        )

    async def insert_job(self, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID, options: dict[str, Any],
                         organization_id: uuid.UUID, owner_id: uuid.UUID,
                         parent_job_id: uuid.UUID | None = None, dataset_id_b: uuid.UUID | None = None) -> None:
        await self.conn.execute(
            "INSERT INTO jobs (job_id, kind, dataset_id, dataset_id_b, parent_job_id, status, options, organization_id,"
            " owner_id) VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s)",
            (job_id, kind, dataset_id, dataset_id_b, parent_job_id, json.dumps(options), organization_id, owner_id),
        )

    async def lock_analysis_quota(self, organization_id: uuid.UUID) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                (f"dsp-automl:{organization_id}",))

    async def list_datasets(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                            q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        where, params = "organization_id = %s", [str(organization_id)]
        if q:
            where += " AND display_name ILIKE %s ESCAPE '\\'"
            params.append(like_pattern(q))
        # the page and the count in one statement; past the last page no row carries the count, which is asked then
        rows = await self._all(f"SELECT {_LIST_COLUMNS}, count(*) OVER () AS total_count FROM datasets WHERE {where}"
                               " ORDER BY created_at DESC, dataset_id LIMIT %s OFFSET %s", (*params, limit, offset))
        if rows:
            total = int(rows[0]["total_count"])
        else:
            counted = await self._one(f"SELECT count(*) AS n FROM datasets WHERE {where}", tuple(params))
            total = int((counted or {"n": 0})["n"])
        for row in rows:
            del row["total_count"]
        return rows, total


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
        if job is not None and job["status"] not in ("completed", "failed", "cancelled"):
            for name in ("status", "stage", "error_code", "error_message"):
                if getattr(update, name) is not None:
                    job[name] = getattr(update, name)
            if update.progress is not None:
                job["progress"] = max(job["progress"], update.progress)
            job["results"] = {**job["results"], **update.results.stored()}
        return await self.get_job(job_id)

    async def mark_cancelled(self, job_id: uuid.UUID, cancellation: dict[str, Any]) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        if job is None or job["status"] in ("completed", "failed", "cancelled"):
            return None
        job.update(status="cancelled", cancellation={**cancellation, "stages": list(cancellation["stages"])})
        return await self.get_job(job_id)

    async def add_cancel_ack(self, job_id: uuid.UUID, ack: dict[str, Any]) -> None:
        job = self.jobs.get(job_id)
        if job is not None and job.get("cancellation") is not None:
            job["cancellation"]["stages"].append(ack)

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
                                          "organization_id": job["organization_id"], "owner_id": job["owner_id"],
                                          "created_at": datetime.now(UTC)})

    # -- the API's side, for the in-process mesh and tests --
    async def insert_dataset(self, *, dataset_id: uuid.UUID, display_name: str, size_bytes: int,
                             raw: dict[str, Any], upload_job_id: uuid.UUID, organization_id: uuid.UUID,
                             owner_id: uuid.UUID) -> None:
        if dataset_id in self.datasets:
            raise KeyError(f"dataset {dataset_id} exists")
        now = datetime.now(UTC)
        self.datasets[dataset_id] = {
            "dataset_id": str(dataset_id), "display_name": display_name, "status": "uploaded", "size_bytes": size_bytes,
            "raw": raw, "upload_job_id": str(upload_job_id), "organization_id": str(organization_id),
            "owner_id": str(owner_id), "row_count": None, "columns": None, "quality_score": None, "parquet": None,
            "ingest_report": None, "profile": None, "validation": None, "error": None, "created_at": now,
            "updated_at": now}

    async def insert_job(self, *, job_id: uuid.UUID, kind: str, dataset_id: uuid.UUID, options: dict[str, Any],
                         organization_id: uuid.UUID, owner_id: uuid.UUID,
                         parent_job_id: uuid.UUID | None = None, dataset_id_b: uuid.UUID | None = None) -> None:
        if job_id in self.jobs:
            raise KeyError(f"job {job_id} exists")
        self.add_job(job_id=job_id, kind=kind, dataset_id=dataset_id, organization_id=organization_id,
                     owner_id=owner_id)
        now = datetime.now(UTC)
        self.jobs[job_id].update(options=options, parent_job_id=str(parent_job_id) if parent_job_id else None,
                                 dataset_id_b=str(dataset_id_b) if dataset_id_b else None,
                                 created_at=now, updated_at=now)

    async def lock_analysis_quota(self, organization_id: uuid.UUID) -> None:
        return None  # one event loop: nothing runs between the count and the insert of a request

    async def count_active_analyses(self, *, organization_id: uuid.UUID) -> int:
        return sum(1 for job in self.jobs.values() if job["organization_id"] == str(organization_id)
                   and job["kind"] == "analysis" and job["status"] in ("queued", "running"))

    @staticmethod
    def _scoped(table: dict[uuid.UUID, dict[str, Any]], key: str, object_id: uuid.UUID,
                organization_id: uuid.UUID) -> dict[str, Any] | None:
        row = table.get(object_id)
        if row is None or str(row["organization_id"]) != str(organization_id):
            return None
        return _jsonable({key: str(object_id), **row})

    async def find_dataset(self, dataset_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return self._scoped(self.datasets, "dataset_id", dataset_id, organization_id)

    async def list_datasets(self, *, organization_id: uuid.UUID, limit: int, offset: int,
                            q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        rows = [row for row in self.datasets.values() if row["organization_id"] == str(organization_id)
                and (not q or q.casefold() in str(row.get("display_name", "")).casefold())]
        rows.sort(key=lambda row: row["dataset_id"])
        rows.sort(key=lambda row: row.get("created_at") or datetime.min.replace(tzinfo=UTC), reverse=True)
        page = [_jsonable({
            "dataset_id": row["dataset_id"], "display_name": row.get("display_name"), "status": row["status"],
            "size_bytes": row.get("size_bytes"), "row_count": row.get("row_count"),
            "column_count": len(row["columns"]) if isinstance(row.get("columns"), list) else None,
            "quality_score": row.get("quality_score"),
            "validation_status": (row.get("validation") or {}).get("status"), "owner_id": row["owner_id"],
            "created_at": row.get("created_at"), "updated_at": row.get("updated_at")}) or {}
            for row in rows[offset:offset + limit]]
        return page, len(rows)

    async def find_job(self, job_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return self._scoped(self.jobs, "job_id", job_id, organization_id)

    async def find_dashboard(self, dashboard_id: uuid.UUID, *,
                             organization_id: uuid.UUID) -> dict[str, Any] | None:
        return self._scoped(self.dashboards, "dashboard_id", dashboard_id, organization_id)

    async def find_model(self, model_id: uuid.UUID, *, organization_id: uuid.UUID) -> dict[str, Any] | None:
        return self._scoped(self.models, "model_id", model_id, organization_id)

    def _model_summary(self, model_id: uuid.UUID, row: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(uuid.UUID(str(row["job_id"]))) or {}
        dataset = self.datasets.get(uuid.UUID(str(row["dataset_id"]))) or {}
        results = job.get("results") or {}
        return _jsonable({
            "model_id": model_id, "job_id": row["job_id"], "dataset_id": row["dataset_id"],
            "created_at": row.get("created_at"), "dataset_name": dataset.get("display_name"),
            "analysis_result": results.get("analysis_result"), "pipeline": results.get("pipeline"),
            "profile": results.get("profile") or dataset.get("profile"),
            "target": ((job.get("options") or {}).get("analysis") or {}).get("target")}) or {}

    async def list_models(self, *, organization_id: uuid.UUID, limit: int,
                          offset: int) -> tuple[list[dict[str, Any]], int]:
        mine = [(model_id, row) for model_id, row in self.models.items()
                if str(row["organization_id"]) == str(organization_id)]
        mine.sort(key=lambda item: str(item[0]))
        mine.sort(key=lambda item: item[1].get("created_at") or datetime.min.replace(tzinfo=UTC), reverse=True)
        return [self._model_summary(model_id, row) for model_id, row in mine[offset:offset + limit]], len(mine)

    async def find_model_summary(self, model_id: uuid.UUID, *,
                                 organization_id: uuid.UUID) -> dict[str, Any] | None:
        row = self.models.get(model_id)
        if row is None or str(row["organization_id"]) != str(organization_id):
            return None
        return self._model_summary(model_id, row)

    async def owned_rows(self, table: OwnedTable, *, owner_id: uuid.UUID,
                         organization_id: uuid.UUID) -> list[dict[str, Any]]:
        rows: dict[uuid.UUID, dict[str, Any]] = getattr(self, table)
        key = KEY_OF[table]
        return [_jsonable({key: str(object_id), **row}) or {} for object_id, row in rows.items()
                if str(row["owner_id"]) == str(owner_id) and str(row["organization_id"]) == str(organization_id)]
