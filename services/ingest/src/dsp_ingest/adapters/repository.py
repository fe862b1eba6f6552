"""ingest's record of datasets: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sql import PostgresSession, SqliteSession, SqlSession
from mesh_kit.sqlite import SqliteConnection

if TYPE_CHECKING:  # annotations only: the local paths run without PostgreSQL
    from psycopg import AsyncConnection

__all__ = ["IngestedDataset", "IngestedDatasets", "InMemoryIngestedDatasets", "PostgresIngestedDatasets",
           "RejectedDataset", "SqlIngestedDatasets", "SqliteIngestedDatasets"]


@dataclass(frozen=True)
class IngestedDataset:
    dataset_id: uuid.UUID
    job_id: uuid.UUID
    row_count: int
    column_count: int
    parquet_key: str
    report_key: str


@dataclass(frozen=True)
class RejectedDataset:
    dataset_id: uuid.UUID
    job_id: uuid.UUID
    code: str
    message: str


class IngestedDatasets(abc.ABC):
    """Every upload ingest has read, with its verdict."""

    @abc.abstractmethod
    async def record_ingested(self, dataset: IngestedDataset) -> None:
        """Record a dataset that was read and written as Parquet."""

    @abc.abstractmethod
    async def record_rejected(self, dataset: RejectedDataset) -> None:
        """Record an upload that could not be accepted (a repeat keeps the first verdict)."""

    @abc.abstractmethod
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""


class SqlIngestedDatasets(IngestedDatasets):
    """The SQL of the Postgres and SQLite adapters."""

    def __init__(self, db: SqlSession) -> None:
        self.db = db

    async def record_ingested(self, dataset: IngestedDataset) -> None:
        await self.db.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, row_count, column_count, parquet_key,"
            " report_key) VALUES (%s, %s, 'ingested', %s, %s, %s, %s)",
            (dataset.dataset_id, dataset.job_id, dataset.row_count, dataset.column_count, dataset.parquet_key,
             dataset.report_key),
        )

    async def record_rejected(self, dataset: RejectedDataset) -> None:
        await self.db.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, error_code, error_message)"
            " VALUES (%s, %s, 'rejected', %s, %s) ON CONFLICT (dataset_id) DO NOTHING",
            (dataset.dataset_id, dataset.job_id, dataset.code, dataset.message),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = await self.db.execute("DELETE FROM ingested_datasets WHERE dataset_id = %s", (dataset_id,))
        return Purged.of(rows, [owner_prefix("datasets", dataset_id)])


class PostgresIngestedDatasets(SqlIngestedDatasets):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(PostgresSession(conn))


class SqliteIngestedDatasets(SqlIngestedDatasets):
    def __init__(self, conn: SqliteConnection) -> None:
        super().__init__(SqliteSession(conn))


@dataclass
class InMemoryIngestedDatasets(IngestedDatasets):
    ingested: dict[uuid.UUID, IngestedDataset] = field(default_factory=dict)
    rejected: dict[uuid.UUID, RejectedDataset] = field(default_factory=dict)

    async def record_ingested(self, dataset: IngestedDataset) -> None:
        self.ingested[dataset.dataset_id] = dataset

    async def record_rejected(self, dataset: RejectedDataset) -> None:
        self.rejected.setdefault(dataset.dataset_id, dataset)

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = (self.ingested.pop(dataset_id, None) is not None) + (self.rejected.pop(dataset_id, None) is not None)
        return Purged.of(rows, [owner_prefix("datasets", dataset_id)])
