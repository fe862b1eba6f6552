"""Postgres adapter for profile's own table."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection

__all__ = ["record_profile"]


async def record_profile(conn: AsyncConnection, *, job_id: uuid.UUID, dataset_id: uuid.UUID, profile_key: str,
                         quality_score: float, alert_count: int, row_count: int, column_count: int,
                         target: str | None) -> None:
    await conn.execute(
        "INSERT INTO profiles (job_id, dataset_id, profile_key, quality_score, alert_count, row_count, column_count,"
        " target) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (job_id) DO UPDATE SET profile_key = EXCLUDED.profile_key, profiled_at = now()",
        (job_id, dataset_id, profile_key, quality_score, alert_count, row_count, column_count, target),
    )
