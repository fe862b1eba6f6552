"""The gateway's deletions on the real PostgreSQL: starting one removes the read-model rows at once, the
acknowledgements finish it and leave only the hash, and the retention sweep starts one for old datasets."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dsp_gateway.adapters.deletions import PostgresGatewayRepository
from dsp_gateway.adapters.notifier import InMemoryJobNotifier
from dsp_gateway.adapters.storage import PostgresGatewayStorage
from dsp_gateway.service_layer.deletion import delete_dataset, sweep_expired, when_dataset_purged
from mesh_kit.artifacts import AsyncArtifactStore, LocalArtifactStore
from mesh_kit.consumer import PostgresUnitOfWork
from mesh_kit.db import open_pool, role_name, with_user
from mesh_kit.ports import StageDeps
from psycopg import sql
from shared_contracts.events import DatasetPurged
from shared_contracts.manifest import purging_services

from ..conftest import migrated_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway_database(infra) -> Iterator[str]:
    with migrated_database(infra, "gwdel") as url:
        yield url


@pytest.fixture
async def runtime(gateway_database: str, tmp_path: Path) -> AsyncIterator[Any]:
    pool = await open_pool(with_user(gateway_database, role_name("gateway")), schema="gateway")
    store = LocalArtifactStore(tmp_path / "store")
    try:  # the ports delete_dataset and sweep_expired use, and the pool the checks read
        yield SimpleNamespace(pool=pool, store=store, async_store=AsyncArtifactStore(store),
                              storage=PostgresGatewayStorage(pool), notifier=InMemoryJobNotifier())
    finally:
        await pool.close()


def _model_of(job_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(job_id, "model")


ORG, OWNER = uuid.uuid4(), uuid.uuid4()


async def _dataset(runtime: Any, *, age_days: float = 0) -> tuple[uuid.UUID, uuid.UUID]:
    dataset_id, job_id = uuid.uuid4(), uuid.uuid4()
    raw = runtime.store.put_bytes(f"datasets/{dataset_id}/raw", b"a,b\n1,2\n", media_type="text/csv")
    runtime.store.put_bytes(f"jobs/{job_id}/profile.json", b"{}", media_type="application/json")
    async with runtime.pool.connection() as conn, conn.transaction():
        repo = PostgresGatewayRepository(conn)
        await repo.insert_dataset(dataset_id=dataset_id, display_name="d.csv", size_bytes=8,
                                  raw=raw.model_dump(), upload_job_id=job_id, organization_id=ORG,
                                        owner_id=OWNER)
        await repo.insert_job(job_id=job_id, kind="upload", dataset_id=dataset_id, options={},
                                    organization_id=ORG, owner_id=OWNER)
        await conn.execute("UPDATE jobs SET results = %s WHERE job_id = %s",
                           (json.dumps({"model_id": str(_model_of(job_id))}), job_id))
        await repo.insert_model(model_id=_model_of(job_id), job_id=job_id, dataset_id=dataset_id)
        await repo.record_event(event_id=uuid.uuid4(), job_id=job_id, routing_key="dataset.ingested.v1",
                                      producer="ingest", payload={"dataset_id": str(dataset_id)},
                                      occurred_at=datetime.now(UTC))
        await conn.execute("UPDATE datasets SET created_at = now() - make_interval(days => %s) WHERE dataset_id = %s",
                           (int(age_days), dataset_id))
    return dataset_id, job_id


async def _naming(runtime: Any, text: str) -> dict[str, int]:
    found = {}
    async with runtime.pool.connection() as conn:
        for table in ("datasets", "jobs", "job_events", "dashboards", "models", "outbox", "deletions",
                      "deleted_datasets"):
            row = await (await conn.execute(
                sql.SQL("SELECT count(*) FROM {} AS t WHERE strpos(t::text, %s) > 0").format(sql.Identifier(table)),
                (text,))).fetchone()
            if row and row[0]:
                found[table] = row[0]
    return found


async def test_a_deletion_removes_the_rows_at_once_and_keeps_only_the_hash_once_acknowledged(runtime: Any) -> None:
    dataset_id, job_id = await _dataset(runtime)
    async with runtime.pool.connection() as conn:
        assert await PostgresGatewayRepository(conn).find_model(_model_of(job_id), organization_id=ORG) is not None
    # another organisation's caller cannot delete it: the same None as a missing dataset (the route's 404)
    assert await delete_dataset(runtime, dataset_id, reason="requested",  # type: ignore[arg-type]
                                organization_id=uuid.uuid4()) is None
    assert runtime.store.exists(f"datasets/{dataset_id}/raw")
    started = await delete_dataset(runtime, dataset_id, reason="requested",  # type: ignore[arg-type]
                                   organization_id=ORG)
    assert started is not None and started.created and started.job_ids == (job_id,)
    async with runtime.pool.connection() as conn:
        repo = PostgresGatewayRepository(conn)
        assert await repo.get_deletion(started.record.deletion_id, organization_id=uuid.uuid4()) is None
        assert await repo.get_deletion(started.record.deletion_id, organization_id=ORG) is not None
    assert not runtime.store.exists(f"datasets/{dataset_id}/raw")
    assert set(await _naming(runtime, str(dataset_id))) == {"outbox", "deletions"}  # until every service answers
    async with runtime.pool.connection() as conn:
        (body,) = (await (await conn.execute("SELECT body FROM outbox WHERE routing_key = 'dataset.deleted.v1'"
                                             " AND strpos(body, %s) > 0", (str(dataset_id),))).fetchone()) or ("",)
    envelope = json.loads(body)
    assert envelope["job_id"] == str(started.record.deletion_id) and envelope["payload"]["job_ids"] == [str(job_id)]
    async with runtime.pool.connection() as conn:  # predict answers 404 before ml has erased the model
        assert await PostgresGatewayRepository(conn).find_model(_model_of(job_id), organization_id=ORG) is None
    again = await delete_dataset(runtime, dataset_id, reason="requested")  # type: ignore[arg-type]
    assert again is not None and not again.created and again.record.deletion_id == started.record.deletion_id

    deletion_id = started.record.deletion_id

    @asynccontextmanager
    async def unit_of_work() -> AsyncIterator[PostgresUnitOfWork]:
        async with runtime.pool.connection() as conn, conn.transaction():
            yield PostgresUnitOfWork(conn=conn, job_id=deletion_id, producer="gateway",
                                     repo=PostgresGatewayRepository(conn))

    for service in purging_services():
        assert runtime.store.exists(f"jobs/{job_id}/profile.json")  # the sweep waits for the last answer
        deps: StageDeps[Any] = StageDeps(job_id=deletion_id, event_id=uuid.uuid4(), producer=service,
                                         occurred_at=datetime.now(UTC), store=AsyncArtifactStore(runtime.store),
                                         unit_of_work=unit_of_work, progress=lambda fraction, message="": None)
        await when_dataset_purged(DatasetPurged(deletion_id=deletion_id, dataset_sha256=started.record.dataset_sha256,
                                                service=service, rows_deleted=1, artifacts_deleted=2), deps)
    assert not runtime.store.exists(f"jobs/{job_id}/profile.json")
    async with runtime.pool.connection() as conn:
        done = await PostgresGatewayRepository(conn).get_deletion(deletion_id)
    assert done is not None and done.status == "completed" and done.dataset_id is None
    assert done.acks["ml"] == {"rows_deleted": 1, "artifacts_deleted": 2}
    assert await _naming(runtime, str(dataset_id)) == {}
    async with runtime.pool.connection() as conn:
        assert await PostgresGatewayRepository(conn).find_model(_model_of(job_id), organization_id=ORG) is None


async def test_the_retention_sweep_deletes_only_datasets_past_the_period(runtime: Any) -> None:
    old, _ = await _dataset(runtime, age_days=40)
    new, _ = await _dataset(runtime, age_days=1)
    assert await sweep_expired(runtime, 30) >= 1
    async with runtime.pool.connection() as conn:
        assert await PostgresGatewayRepository(conn).find_dataset(old, organization_id=ORG) is None
        assert await PostgresGatewayRepository(conn).find_dataset(new, organization_id=ORG) is not None
        reasons = await (await conn.execute("SELECT reason FROM deletions WHERE dataset_id = %s", (old,))).fetchall()
    assert reasons == [("retention",)]
    assert await sweep_expired(runtime, 30) == 0
    assert await sweep_expired(runtime, 0.5) >= 1  # a shorter period reaches the newer one
    async with runtime.pool.connection() as conn:
        assert await PostgresGatewayRepository(conn).find_dataset(new, organization_id=ORG) is None
