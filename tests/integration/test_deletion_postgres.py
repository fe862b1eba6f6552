"""Deletion in mesh_kit against the real PostgreSQL: the tombstone and the dataset lock, the outbox purge,
and the runner discarding the events of an erased dataset."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from mesh_kit import deletion
from mesh_kit.consumer import Outcome, PostgresUnitOfWork
from mesh_kit.ports import StageDeps
from shared_contracts import Envelope
from shared_contracts.events import DatasetDeleted, DatasetRejected

from .test_mesh_kit_delivery import Effects, _delivery, _effects, _uploaded, kit_database, runtime

pytestmark = pytest.mark.integration
__all__ = ["kit_database", "runtime"]  # the fixtures, shared with the delivery tests


async def test_recording_results_waits_for_a_deletion_under_way_and_then_sees_it(runtime) -> None:
    pool, dataset_id = runtime["pool"], uuid.uuid4()
    async with pool.connection() as deleting, deleting.transaction():
        assert await deletion.tombstone(deleting, dataset_id) is True

        async def record() -> bool:
            async with pool.connection() as conn, conn.transaction():
                uow = PostgresUnitOfWork(conn=conn, job_id=uuid.uuid4(), producer="ingest")
                return await uow.is_deleted(dataset_id)

        waiting = asyncio.create_task(record())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "recording must wait for the deletion's transaction"
    assert await waiting is True
    async with pool.connection() as conn:
        assert await deletion.tombstone(conn, dataset_id) is False  # a second deletion is a no-op
        stored = await (await conn.execute("SELECT dataset_sha256 FROM deleted_datasets")).fetchall()
    assert (deletion.dataset_sha256(dataset_id),) in stored and all(str(dataset_id) not in r[0] for r in stored)


async def test_the_outbox_purge_takes_only_the_rows_naming_the_dataset(runtime) -> None:
    pool, gone, kept = runtime["pool"], uuid.uuid4(), uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        uow = PostgresUnitOfWork(conn=conn, job_id=uuid.uuid4(), producer="ingest")
        for dataset_id in (gone, gone, kept):
            await uow.emit(DatasetRejected(dataset_id=dataset_id, code="c", message="m"))
    async with pool.connection() as conn, conn.transaction():
        uow = PostgresUnitOfWork(conn=conn, job_id=uuid.uuid4(), producer="ingest")
        assert await uow.purge_outbox(gone) == 2
        bodies = [r[0] for r in await (await conn.execute("SELECT body FROM outbox")).fetchall()]
    assert not [b for b in bodies if str(gone) in b] and [b for b in bodies if str(kept) in b]


async def test_the_runner_discards_an_event_of_an_erased_dataset_but_still_runs_a_deletion(runtime) -> None:
    runner, pool = runtime["runner"], runtime["pool"]
    envelope = _uploaded()
    dataset_id = envelope.payload.dataset_id
    async with pool.connection() as conn:
        await deletion.tombstone(conn, dataset_id)

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)

    before = await _effects(pool)
    assert await runner.process(_delivery(envelope), handler) == Outcome.DISCARDED
    assert await runner.process(_delivery(envelope), handler) == Outcome.DUPLICATE
    assert await _effects(pool) == before
    erase = Envelope.wrap(DatasetDeleted(dataset_id=dataset_id, reason="requested", requested_at=datetime.now(UTC)),
                          job_id=uuid.uuid4(), producer="gateway")
    assert await runner.process(_delivery(erase), handler) == Outcome.HANDLED
    assert await _effects(pool) == before + 1
