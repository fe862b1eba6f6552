"""ingest's record of datasets: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection

__all__ = ["IngestedDataset", "IngestedDatasets", "InMemoryIngestedDatasets", "PostgresIngestedDatasets",
           "RejectedDataset", "SqliteIngestedDatasets"]


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


class PostgresIngestedDatasets(IngestedDatasets):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record_ingested(self, dataset: IngestedDataset) -> None:
        await self.conn.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, row_count, column_count, parquet_key,"
            " report_key) VALUES (%s, %s, 'ingested', %s, %s, %s, %s)",
            (dataset.dataset_id, dataset.job_id, dataset.row_count, dataset.column_count, dataset.parquet_key,
             dataset.report_key),
        )

    async def record_rejected(self, dataset: RejectedDataset) -> None:
        await self.conn.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, error_code, error_message)"
            " VALUES (%s, %s, 'rejected', %s, %s) ON CONFLICT (dataset_id) DO NOTHING",
            (dataset.dataset_id, dataset.job_id, dataset.code, dataset.message),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        cur = await self.conn.execute("DELETE FROM ingested_datasets WHERE dataset_id = %s", (dataset_id,))
        return Purged.of(cur.rowcount, [owner_prefix("datasets", dataset_id)])


class SqliteIngestedDatasets(IngestedDatasets):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def record_ingested(self, dataset: IngestedDataset) -> None:
        await self.conn.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, row_count, column_count, parquet_key,"
            " report_key) VALUES (?, ?, 'ingested', ?, ?, ?, ?)",
            (dataset.dataset_id, dataset.job_id, dataset.row_count, dataset.column_count, dataset.parquet_key,
             dataset.report_key),
        )

    async def record_rejected(self, dataset: RejectedDataset) -> None:
        await self.conn.execute(
            "INSERT INTO ingested_datasets (dataset_id, job_id, status, error_code, error_message)"
            " VALUES (?, ?, 'rejected', ?, ?) ON CONFLICT (dataset_id) DO NOTHING",
            (dataset.dataset_id, dataset.job_id, dataset.code, dataset.message),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        result = await self.conn.execute("DELETE FROM ingested_datasets WHERE dataset_id = ?", (dataset_id,))
        return Purged.of(result.rowcount, [owner_prefix("datasets", dataset_id)])


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
