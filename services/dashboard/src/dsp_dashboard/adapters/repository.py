"""dashboard's record of dashboards: the port, its Postgres adapter, its SQLite adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from mesh_kit.artifacts import owner_prefix
from mesh_kit.deletion import Purged
from mesh_kit.sqlite import SqliteConnection
from psycopg import AsyncConnection

__all__ = ["DashboardRecord", "Dashboards", "InMemoryDashboards", "PostgresDashboards", "SqliteDashboards"]


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


class PostgresDashboards(Dashboards):
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(self, dashboard: DashboardRecord) -> None:
        d = dashboard
        await self.conn.execute(
            "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html_key, html_bytes, pdf_key)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (d.dashboard_id, d.job_id, d.dataset_id, d.html_key, d.html_bytes, d.pdf_key),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        cur = await self.conn.execute("DELETE FROM dashboards WHERE dataset_id = %s RETURNING dashboard_id",
                                      (dataset_id,))
        ids = [row[0] for row in await cur.fetchall()]
        return Purged.of(len(ids), [owner_prefix("dashboards", d) for d in ids])


class SqliteDashboards(Dashboards):
    def __init__(self, conn: SqliteConnection) -> None:
        self.conn = conn

    async def record(self, dashboard: DashboardRecord) -> None:
        d = dashboard
        await self.conn.execute(
            "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html_key, html_bytes, pdf_key)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (d.dashboard_id, d.job_id, d.dataset_id, d.html_key, d.html_bytes, d.pdf_key),
        )

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        rows = (await self.conn.execute("DELETE FROM dashboards WHERE dataset_id = ? RETURNING dashboard_id",
                                        (dataset_id,))).fetchall()
        return Purged.of(len(rows), [owner_prefix("dashboards", uuid.UUID(row[0])) for row in rows])


@dataclass
class InMemoryDashboards(Dashboards):
    dashboards: dict[uuid.UUID, DashboardRecord] = field(default_factory=dict)

    async def record(self, dashboard: DashboardRecord) -> None:
        self.dashboards[dashboard.dashboard_id] = dashboard

    async def purge_dataset(self, dataset_id: uuid.UUID, job_ids: tuple[uuid.UUID, ...]) -> Purged:
        ids = [d for d, record in self.dashboards.items() if record.dataset_id == dataset_id]
        for d in ids:
            del self.dashboards[d]
        return Purged.of(len(ids), [owner_prefix("dashboards", d) for d in ids])
