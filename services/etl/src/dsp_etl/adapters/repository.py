"""etl's record of its runs: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection

__all__ = ["EtlRun", "EtlRuns", "InMemoryEtlRuns", "PostgresEtlRuns", "SqliteEtlRuns"]


@dataclass(frozen=True)
class EtlRun:
    """One cleaning run of a job: where its outputs are and how much it changed."""

    job_id: uuid.UUID
    dataset_id: uuid.UUID
    cleaned_key: str
    report_key: str
    pipeline_key: str
    rows_in: int
    rows_out: int
    step_count: int


class EtlRuns(abc.ABC):
    """The runs etl has recorded."""

    @abc.abstractmethod
    async def record(self, run: EtlRun) -> None:
        """Record one run (inside the unit of work that emits its event)."""

    @abc.abstractmethod
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""


class PostgresEtlRuns(EtlRuns):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(self, run: EtlRun) -> None:
        await self.conn.execute(
            "INSERT INTO etl_runs (job_id, dataset_id, cleaned_key, report_key, pipeline_key, rows_in, rows_out,"
            " step_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (run.job_id, run.dataset_id, run.cleaned_key, run.report_key, run.pipeline_key, run.rows_in,
             run.rows_out, run.step_count),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        cur = await self.conn.execute("DELETE FROM etl_runs WHERE dataset_id = %s RETURNING job_id", (dataset_id,))
        jobs = [row[0] for row in await cur.fetchall()]
        return Purged.of(len(jobs), [owner_prefix("jobs", job) for job in jobs])


class SqliteEtlRuns(EtlRuns):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def record(self, run: EtlRun) -> None:
        await self.conn.execute(
            "INSERT INTO etl_runs (job_id, dataset_id, cleaned_key, report_key, pipeline_key, rows_in, rows_out,"
            " step_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run.job_id, run.dataset_id, run.cleaned_key, run.report_key, run.pipeline_key, run.rows_in,
             run.rows_out, run.step_count),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = (await self.conn.execute("DELETE FROM etl_runs WHERE dataset_id = ? RETURNING job_id",
                                        (dataset_id,))).fetchall()
        return Purged.of(len(rows), [owner_prefix("jobs", uuid.UUID(row[0])) for row in rows])


@dataclass
class InMemoryEtlRuns(EtlRuns):
    runs: list[EtlRun] = field(default_factory=list)

    async def record(self, run: EtlRun) -> None:
        self.runs.append(run)

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        gone = [run for run in self.runs if run.dataset_id == dataset_id]
        self.runs = [run for run in self.runs if run.dataset_id != dataset_id]
        return Purged.of(len(gone), [owner_prefix("jobs", run.job_id) for run in gone])
