"""dashboard's record of dashboards: the port, its Postgres adapter and its in-memory adapter."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field

from psycopg import AsyncConnection

__all__ = ["DashboardRecord", "Dashboards", "InMemoryDashboards", "PostgresDashboards"]


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


@dataclass
class InMemoryDashboards(Dashboards):
    dashboards: dict[uuid.UUID, DashboardRecord] = field(default_factory=dict)

    async def record(self, dashboard: DashboardRecord) -> None:
        self.dashboards[dashboard.dashboard_id] = dashboard
