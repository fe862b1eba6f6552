"""profile's record of profiles: the port, its Postgres adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from psycopg import AsyncConnection

__all__ = ["InMemoryProfiles", "PostgresProfiles", "ProfileRecord", "Profiles"]


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


@dataclass
class InMemoryProfiles(Profiles):
    profiles: dict[uuid.UUID, ProfileRecord] = field(default_factory=dict)

    async def record(self, profile: ProfileRecord) -> None:
        self.profiles[profile.job_id] = profile
