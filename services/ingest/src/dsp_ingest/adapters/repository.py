"""Postgres adapter for ingest's own tables."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

__all__ = ["record_ingested", "record_rejected"]


async def record_ingested(conn: AsyncConnection, *, dataset_id: uuid.UUID, job_id: uuid.UUID, row_count: int,
                          column_count: int, parquet_key: str, report_key: str) -> None:
    await conn.execute(
        "INSERT INTO ingested_datasets (dataset_id, job_id, status, row_count, column_count, parquet_key, report_key)"
        " VALUES (%s, %s, 'ingested', %s, %s, %s, %s)",
        (dataset_id, job_id, row_count, column_count, parquet_key, report_key),
    )


async def record_rejected(conn: AsyncConnection, *, dataset_id: uuid.UUID, job_id: uuid.UUID, code: str,
                          message: str) -> None:
    await conn.execute(
        "INSERT INTO ingested_datasets (dataset_id, job_id, status, error_code, error_message)"
        " VALUES (%s, %s, 'rejected', %s, %s) ON CONFLICT (dataset_id) DO NOTHING",
        (dataset_id, job_id, code, message),
    )
