"""profile's record of profiles: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sql import PostgresSession, SqliteSession, SqlSession
from mesh_kit.sqlite import SqliteConnection

if TYPE_CHECKING:  # annotations only: the local paths run without PostgreSQL
    from psycopg import AsyncConnection

__all__ = ["InMemoryProfiles", "PostgresProfiles", "ProfileRecord", "Profiles", "SqlProfiles", "SqliteProfiles"]


@dataclass(frozen=True)
class ProfileRecord:
    job_id: uuid.UUID
    dataset_id: uuid.UUID
    profile_key: str
    quality_score: float
    alert_count: int
    row_count: int
    column_count: int
    target: str | None


class Profiles(abc.ABC):
    """The profiles computed, one per job."""

    @abc.abstractmethod
    async def record(self, profile: ProfileRecord) -> None:
        """Record the profile of a job (a repeat replaces it)."""

    @abc.abstractmethod
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""


class SqlProfiles(Profiles):
    """The SQL of the Postgres and SQLite adapters."""

    def __init__(self, db: SqlSession) -> None:
        self.db = db

    async def record(self, profile: ProfileRecord) -> None:
        p = profile
        await self.db.execute(
            "INSERT INTO profiles (job_id, dataset_id, profile_key, quality_score, alert_count, row_count,"
            " column_count, target) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (job_id) DO UPDATE SET profile_key = excluded.profile_key, profiled_at = %s",
            (p.job_id, p.dataset_id, p.profile_key, p.quality_score, p.alert_count, p.row_count, p.column_count,
             p.target, datetime.now(UTC)),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = await self.db.fetchall("DELETE FROM profiles WHERE dataset_id = %s RETURNING job_id", (dataset_id,))
        return Purged.of(len(rows), [owner_prefix("jobs", uuid.UUID(str(row[0]))) for row in rows])


class PostgresProfiles(SqlProfiles):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(PostgresSession(conn))


class SqliteProfiles(SqlProfiles):
    def __init__(self, conn: SqliteConnection) -> None:
        super().__init__(SqliteSession(conn))


@dataclass
class InMemoryProfiles(Profiles):
    profiles: dict[uuid.UUID, ProfileRecord] = field(default_factory=dict)

    async def record(self, profile: ProfileRecord) -> None:
        self.profiles[profile.job_id] = profile

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        jobs = [job for job, p in self.profiles.items() if p.dataset_id == dataset_id]
        for job in jobs:
            del self.profiles[job]
        return Purged.of(len(jobs), [owner_prefix("jobs", job) for job in jobs])
