"""dashboard's record of dashboards: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sql import PostgresSession, SqliteSession, SqlSession
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection

__all__ = ["DashboardRecord", "Dashboards", "InMemoryDashboards", "PostgresDashboards", "SqlDashboards", "SqliteDashboards"]


@dataclass(frozen=True)
class DashboardRecord:
    dashboard_id: uuid.UUID
    job_id: uuid.UUID
    dataset_id: uuid.UUID
    html_key: str
    html_bytes: int
    pdf_key: str | None


class Dashboards(abc.ABC):
    """The dashboards built."""

    @abc.abstractmethod
    async def record(self, dashboard: DashboardRecord) -> None:
        """Record a built dashboard."""

    @abc.abstractmethod
    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        """Delete the dataset's rows; answer their count and the artifact prefixes they pointed at."""


class SqlDashboards(Dashboards):
    """The SQL of the Postgres and SQLite adapters."""

    def __init__(self, db: SqlSession) -> None:
        self.db = db

    async def record(self, dashboard: DashboardRecord) -> None:
        d = dashboard
        await self.db.execute(
            "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html_key, html_bytes, pdf_key)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (d.dashboard_id, d.job_id, d.dataset_id, d.html_key, d.html_bytes, d.pdf_key),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        # the dataset's dashboards, and those of its jobs: a comparison's dashboard is recorded under dataset A,
        # and goes with dataset B as well
        jobs = ", ".join(["%s"] * len(job_ids))
        of_jobs = f" OR job_id IN ({jobs})" if job_ids else ""
        rows = await self.db.fetchall(f"DELETE FROM dashboards WHERE dataset_id = %s{of_jobs} RETURNING dashboard_id",
                                      (dataset_id, *job_ids))
        return Purged.of(len(rows), [owner_prefix("dashboards", uuid.UUID(str(row[0]))) for row in rows])


class PostgresDashboards(SqlDashboards):
    def __init__(self, conn: AsyncConnection) -> None:
        super().__init__(PostgresSession(conn))


class SqliteDashboards(SqlDashboards):
    def __init__(self, conn: SqliteConnection) -> None:
        super().__init__(SqliteSession(conn))


@dataclass
class InMemoryDashboards(Dashboards):
    dashboards: dict[uuid.UUID, DashboardRecord] = field(default_factory=dict)

    async def record(self, dashboard: DashboardRecord) -> None:
        self.dashboards[dashboard.dashboard_id] = dashboard

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        ids = [d for d, record in self.dashboards.items() if record.dataset_id == dataset_id or record.job_id in job_ids]
        for d in ids:
            del self.dashboards[d]
        return Purged.of(len(ids), [owner_prefix("dashboards", d) for d in ids])
