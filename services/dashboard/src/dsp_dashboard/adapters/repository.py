"""Postgres adapter for dashboard's own table."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

__all__ = ["record_dashboard"]


async def record_dashboard(conn: AsyncConnection, *, dashboard_id: uuid.UUID, job_id: uuid.UUID,
                           dataset_id: uuid.UUID, html_key: str, html_bytes: int, pdf_key: str | None) -> None:
    await conn.execute(
        "INSERT INTO dashboards (dashboard_id, job_id, dataset_id, html_key, html_bytes, pdf_key)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (dashboard_id, job_id, dataset_id, html_key, html_bytes, pdf_key),
    )
