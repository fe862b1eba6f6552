"""profile's record of profiles: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection

__all__ = ["InMemoryProfiles", "PostgresProfiles", "ProfileRecord", "Profiles", "SqliteProfiles"]


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


class PostgresProfiles(Profiles):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(self, profile: ProfileRecord) -> None:
        p = profile
        await self.conn.execute(
            "INSERT INTO profiles (job_id, dataset_id, profile_key, quality_score, alert_count, row_count,"
            " column_count, target) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (job_id) DO UPDATE SET profile_key = EXCLUDED.profile_key, profiled_at = now()",
            (p.job_id, p.dataset_id, p.profile_key, p.quality_score, p.alert_count, p.row_count, p.column_count,
             p.target),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        cur = await self.conn.execute("DELETE FROM profiles WHERE dataset_id = %s RETURNING job_id", (dataset_id,))
        jobs = [row[0] for row in await cur.fetchall()]
        return Purged.of(len(jobs), [owner_prefix("jobs", job) for job in jobs])


class SqliteProfiles(Profiles):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def record(self, profile: ProfileRecord) -> None:
        p = profile
        await self.conn.execute(
            "INSERT INTO profiles (job_id, dataset_id, profile_key, quality_score, alert_count, row_count,"
            " column_count, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET profile_key = excluded.profile_key,"
            " profiled_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (p.job_id, p.dataset_id, p.profile_key, p.quality_score, p.alert_count, p.row_count, p.column_count,
             p.target),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = (await self.conn.execute("DELETE FROM profiles WHERE dataset_id = ? RETURNING job_id",
                                        (dataset_id,))).fetchall()
        return Purged.of(len(rows), [owner_prefix("jobs", uuid.UUID(row[0])) for row in rows])


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
