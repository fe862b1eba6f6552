"""Postgres adapter for etl's own table."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

__all__ = ["record_run"]


async def record_run(conn: AsyncConnection, *, job_id: uuid.UUID, dataset_id: uuid.UUID, cleaned_key: str,
                     report_key: str, pipeline_key: str, rows_in: int, rows_out: int, step_count: int) -> None:
    await conn.execute(
        "INSERT INTO etl_runs (job_id, dataset_id, cleaned_key, report_key, pipeline_key, rows_in, rows_out,"
        " step_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (job_id, dataset_id, cleaned_key, report_key, pipeline_key, rows_in, rows_out, step_count),
    )
