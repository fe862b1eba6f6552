"""The gateway's record of deletions: the port, and the read-model repositories that also carry it.

Starting a deletion removes the dataset's rows from the read model at once (datasets, jobs - the
comparisons that name it as their second dataset too -, job_events, dashboards), so every route answers 404 from then on, exactly as for a missing id; the
``deletions`` row keeps what finishing needs (the dataset id, the artifact prefixes to sweep) until
every service has acknowledged, then keeps only the dataset's SHA-256.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import dataset_sha256
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from ..domain.jobs import JobResults
from .idempotency import IdempotencyKeys, InMemoryIdempotencyKeys, PostgresIdempotencyKeys
from .repository import InMemoryReadModel, PostgresReadModel, ReadModel

__all__ = [
    "DeletionRecord",
    "DeletionStart",
    "Deletions",
    "GatewayRepository",
    "InMemoryGatewayRepository",
    "PostgresGatewayRepository",
    "prefixes_of",
    "record_of",
]


@dataclass(frozen=True)
class DeletionRecord:
    deletion_id: uuid.UUID
    dataset_sha256: str
    dataset_id: uuid.UUID | None
    reason: str
    status: str
    services: tuple[str, ...]
    acks: dict[str, dict[str, int]]
    artifact_prefixes: tuple[str, ...]
    requested_at: datetime
    completed_at: datetime | None = None
    organization_id: uuid.UUID | None = None

    @property
    def all_acknowledged(self) -> bool:
        return set(self.services) <= set(self.acks)

    def view(self) -> dict[str, Any]:
        """What the API shows: never the dataset id, which the client already knows."""
        return {
            "deletion_id": str(self.deletion_id), "status": self.status, "reason": self.reason,
            "dataset_sha256": self.dataset_sha256, "requested_at": self.requested_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "services": {name: {"status": "purged" if name in self.acks else "pending", **self.acks.get(name, {})}
                         for name in self.services},
        }


@dataclass(frozen=True)
class DeletionStart:
    """A deletion started now (``created``), or the one already under way for the dataset."""

    record: DeletionRecord
    created: bool
    job_ids: tuple[uuid.UUID, ...] = ()
    raw_key: str | None = None


def prefixes_of(dataset_id: uuid.UUID, jobs: Iterable[tuple[uuid.UUID, dict[str, Any]]],
              dashboards: Iterable[uuid.UUID]) -> tuple[str, ...]:
    """Every artifact prefix the gateway knows of the dataset: its own, its jobs', models' and dashboards'."""
    out = {owner_prefix("datasets", dataset_id)}
    for job_id, results in jobs:
        out.add(owner_prefix("jobs", job_id))
        parsed = JobResults.model_validate(results or {})
        if parsed.model_id is not None:
            out.add(owner_prefix("models", parsed.model_id))
        if parsed.dashboard_id is not None:
            out.add(owner_prefix("dashboards", parsed.dashboard_id))
    out.update(owner_prefix("dashboards", d) for d in dashboards)
    return tuple(sorted(out))


class Deletions(abc.ABC):
    """The deletions the gateway started, and the read-model rows they remove."""

    @abc.abstractmethod
    async def start_deletion(self, *, deletion_id: uuid.UUID, dataset_id: uuid.UUID, reason: str,
                             requested_at: datetime, services: tuple[str, ...],
                             organization_id: uuid.UUID | None = None) -> DeletionStart | None:
        """Remove the dataset's read-model rows and record the deletion; the pending one if there is
        one already; None when no such dataset exists, or it is not ``organization_id``'s (None: any
        organisation, for the retention sweep)."""

    @abc.abstractmethod
    async def get_deletion(self, deletion_id: uuid.UUID, *,
                           organization_id: uuid.UUID | None = None) -> DeletionRecord | None:
        """A deletion; None when missing or another organisation's."""

    @abc.abstractmethod
    async def record_purge(self, deletion_id: uuid.UUID, *, service: str, rows: int,
                           artifacts: int) -> DeletionRecord | None:
        """Note one service's acknowledgement (locking the deletion); the deletion after it."""

    @abc.abstractmethod
    async def complete_deletion(self, deletion_id: uuid.UUID) -> None:
        """Mark it completed and forget the dataset id and prefixes, keeping only the hash."""

    @abc.abstractmethod
    async def expired_datasets(self, created_before: datetime, *, limit: int) -> list[uuid.UUID]:
        """The datasets created before a time (the retention period), oldest first."""


class GatewayRepository(ReadModel, Deletions, IdempotencyKeys, abc.ABC):
    """What the gateway's use cases see through ``uow.repo``: the read model, the deletions and the
    idempotency keys."""


# -- Postgres ----------------------------------------------------------------------------------
def record_of(row: dict[str, Any]) -> DeletionRecord:
    return DeletionRecord(
        deletion_id=row["deletion_id"], dataset_sha256=row["dataset_sha256"], dataset_id=row["dataset_id"],
        reason=row["reason"], status=row["status"], services=tuple(row["services"]), acks=dict(row["acks"]),
        artifact_prefixes=tuple(row["artifact_prefixes"]), requested_at=row["requested_at"],
        completed_at=row["completed_at"], organization_id=row.get("organization_id"),
    )


async def _deletion(conn: AsyncConnection, query: str, params: tuple[Any, ...]) -> DeletionRecord | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    return record_of(row) if row else None


class PostgresGatewayRepository(PostgresReadModel, PostgresIdempotencyKeys, GatewayRepository):
    async def start_deletion(self, *, deletion_id: uuid.UUID, dataset_id: uuid.UUID, reason: str,
                             requested_at: datetime, services: tuple[str, ...],
                             organization_id: uuid.UUID | None = None) -> DeletionStart | None:
        conn, digest = self.conn, dataset_sha256(dataset_id)
        dataset = await (await conn.execute("SELECT raw, organization_id FROM datasets WHERE dataset_id = %s"
                                            " FOR UPDATE", (dataset_id,))).fetchone()
        pending = await _deletion(conn, "SELECT * FROM deletions WHERE dataset_sha256 = %s AND status = 'pending'"
                                        " ORDER BY requested_at LIMIT 1", (digest,))
        if pending is not None:
            if organization_id is not None and pending.organization_id != organization_id:
                return None
            return DeletionStart(record=pending, created=False)
        if dataset is None or (organization_id is not None and dataset[1] != organization_id):
            return None
        # the dataset's jobs, the comparisons that name it second included
        jobs = [(r[0], r[1]) for r in await (await conn.execute(
            "SELECT job_id, results FROM jobs WHERE dataset_id = %s OR dataset_id_b = %s",
            (dataset_id, dataset_id))).fetchall()]
        job_ids = [job for job, _ in jobs]
        dashboards = [r[0] for r in await (await conn.execute(
            "SELECT dashboard_id FROM dashboards WHERE dataset_id = %s OR job_id = ANY(%s::uuid[])",
            (dataset_id, job_ids))).fetchall()]
        prefixes = prefixes_of(dataset_id, jobs, dashboards)
        await conn.execute("DELETE FROM job_events WHERE job_id = ANY(%s::uuid[])", (job_ids,))
        await conn.execute("DELETE FROM dashboards WHERE dataset_id = %s OR job_id = ANY(%s::uuid[])", (dataset_id, job_ids))
        await conn.execute("DELETE FROM models WHERE dataset_id = %s OR job_id = ANY(%s::uuid[])", (dataset_id, job_ids))
        await conn.execute("DELETE FROM jobs WHERE dataset_id = %s OR dataset_id_b = %s", (dataset_id, dataset_id))
        await conn.execute("DELETE FROM datasets WHERE dataset_id = %s", (dataset_id,))
        record = DeletionRecord(deletion_id=deletion_id, dataset_sha256=digest, dataset_id=dataset_id, reason=reason,
                                status="pending", services=services, acks={}, artifact_prefixes=prefixes,
                                requested_at=requested_at, organization_id=dataset[1])
        await conn.execute(
            "INSERT INTO deletions (deletion_id, dataset_sha256, dataset_id, reason, status, services,"
            " artifact_prefixes, requested_at, organization_id) VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s, %s)",
            (deletion_id, digest, dataset_id, reason, json.dumps(list(services)), json.dumps(list(prefixes)),
             requested_at, dataset[1]),
        )
        raw = dataset[0] or {}
        return DeletionStart(record=record, created=True, job_ids=tuple(job_ids), raw_key=raw.get("key"))

    async def get_deletion(self, deletion_id: uuid.UUID, *,
                           organization_id: uuid.UUID | None = None) -> DeletionRecord | None:
        record = await _deletion(self.conn, "SELECT * FROM deletions WHERE deletion_id = %s", (deletion_id,))
        if record is not None and organization_id is not None and record.organization_id != organization_id:
            return None
        return record

    async def record_purge(self, deletion_id: uuid.UUID, *, service: str, rows: int,
                           artifacts: int) -> DeletionRecord | None:
        return await _deletion(
            self.conn,
            "UPDATE deletions SET acks = acks || jsonb_build_object(%s::text, jsonb_build_object("
            "'rows_deleted', %s::bigint, 'artifacts_deleted', %s::bigint))"
            " WHERE deletion_id = %s AND status = 'pending' RETURNING *",
            (service, rows, artifacts, deletion_id),
        ) or await self.get_deletion(deletion_id)

    async def complete_deletion(self, deletion_id: uuid.UUID) -> None:
        await self.conn.execute(
            "UPDATE deletions SET status = 'completed', completed_at = now(), dataset_id = NULL,"
            " artifact_prefixes = '[]'::jsonb WHERE deletion_id = %s", (deletion_id,))

    async def expired_datasets(self, created_before: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await (await self.conn.execute(
            "SELECT dataset_id FROM datasets WHERE created_at < %s ORDER BY created_at LIMIT %s",
            (created_before, limit))).fetchall()
        return [r[0] for r in rows]


# -- in memory ---------------------------------------------------------------------------------
class InMemoryGatewayRepository(InMemoryReadModel, InMemoryIdempotencyKeys, GatewayRepository):
    """The in-memory read model with deletions, under the same rules as the SQL."""

    def __init__(self) -> None:
        super().__init__()
        self.deletions: dict[uuid.UUID, DeletionRecord] = {}
        self.idempotency = {}

    async def start_deletion(self, *, deletion_id: uuid.UUID, dataset_id: uuid.UUID, reason: str,
                             requested_at: datetime, services: tuple[str, ...],
                             organization_id: uuid.UUID | None = None) -> DeletionStart | None:
        digest = dataset_sha256(dataset_id)
        pending = [d for d in self.deletions.values() if d.dataset_sha256 == digest and d.status == "pending"]
        if pending:
            if organization_id is not None and pending[0].organization_id != organization_id:
                return None
            return DeletionStart(record=pending[0], created=False)
        found = self.datasets.get(dataset_id)
        if found is None or (organization_id is not None and found.get("organization_id") != str(organization_id)):
            return None
        dataset = self.datasets.pop(dataset_id)
        jobs = [(job, row) for job, row in self.jobs.items()  # a comparison naming it second goes too
                if str(dataset_id) in (row["dataset_id"], row.get("dataset_id_b"))]
        job_ids = tuple(job for job, _ in jobs)
        dashboards = [d for d, row in self.dashboards.items() if row["dataset_id"] == dataset_id
                      or row["job_id"] in job_ids]
        prefixes = prefixes_of(dataset_id, [(job, row.get("results") or {}) for job, row in jobs], dashboards)
        for d in dashboards:
            del self.dashboards[d]
        for model in [m for m, row in self.models.items() if row["dataset_id"] == dataset_id
                      or row["job_id"] in job_ids]:
            del self.models[model]  # predict answers 404 at once, before ml has erased it
        for job in job_ids:
            del self.jobs[job]
        for event_id in [e for e, row in self.events.items() if row["job_id"] in job_ids]:
            del self.events[event_id]
        record = DeletionRecord(deletion_id=deletion_id, dataset_sha256=digest, dataset_id=dataset_id, reason=reason,
                                status="pending", services=services, acks={}, artifact_prefixes=prefixes,
                                requested_at=requested_at, organization_id=uuid.UUID(dataset["organization_id"]))
        self.deletions[deletion_id] = record
        return DeletionStart(record=record, created=True, job_ids=job_ids,
                             raw_key=(dataset.get("raw") or {}).get("key"))

    async def get_deletion(self, deletion_id: uuid.UUID, *,
                           organization_id: uuid.UUID | None = None) -> DeletionRecord | None:
        record = self.deletions.get(deletion_id)
        if record is not None and organization_id is not None and record.organization_id != organization_id:
            return None
        return record

    async def record_purge(self, deletion_id: uuid.UUID, *, service: str, rows: int,
                           artifacts: int) -> DeletionRecord | None:
        record = self.deletions.get(deletion_id)
        if record is not None and record.status == "pending":
            acks = {**record.acks, service: {"rows_deleted": rows, "artifacts_deleted": artifacts}}
            record = self.deletions[deletion_id] = replace(record, acks=acks)
        return record

    async def complete_deletion(self, deletion_id: uuid.UUID) -> None:
        record = self.deletions[deletion_id]
        self.deletions[deletion_id] = replace(record, status="completed", dataset_id=None, artifact_prefixes=(),
                                               completed_at=datetime.now(record.requested_at.tzinfo))

    async def expired_datasets(self, created_before: datetime, *, limit: int) -> list[uuid.UUID]:
        old = sorted((row["created_at"], dataset_id) for dataset_id, row in self.datasets.items()
                     if row.get("created_at") is not None and row["created_at"] < created_before)
        return [dataset_id for _, dataset_id in old[:limit]]
