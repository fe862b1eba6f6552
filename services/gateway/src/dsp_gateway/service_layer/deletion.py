"""The gateway's deletion use cases: erase a dataset (asked for, or past DSP_RETENTION_DAYS), then finish
the deletion once every service has acknowledged it.

1. ``request_deletion`` (in one transaction): the dataset's read-model rows go (datasets, jobs,
   job_events, dashboards), so the dataset and everything of it answers 404 from now on, during the
   deletion too, exactly like an id that never existed; a ``deletions`` row records it; the gateway
   tombstones the dataset (late events naming it are discarded); ``dataset.deleted.v1`` goes into the
   outbox, with the deletion id as its job id; the raw upload is removed.
2. Every service erases its rows and artifacts and answers ``dataset.purged.v1``.
3. ``when_dataset_purged`` notes each answer; with the last one it sweeps the artifact prefixes the
   gateway knew (``datasets/<id>/``, ``jobs/<id>/``, ``models/<id>/``, ``dashboards/<id>/``) once more,
   deletes its own outbox rows naming the dataset, and keeps only the dataset's SHA-256.

``GET /api/v1/deletions/{id}`` shows the deletion meanwhile and afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

from mesh_kit.artifacts import AsyncArtifactStore
from mesh_kit.ports import StageDeps, UnitOfWork
from shared_contracts.events import DatasetDeleted, DatasetPurged, DeletionReason
from shared_contracts.manifest import purging_services

from ..adapters.deletions import DeletionRecord, DeletionStart, GatewayRepository
from ..ports import GatewayPorts

__all__ = [
    "delete_dataset",
    "request_deletion",
    "retention_loop",
    "sweep_expired",
    "when_dataset_deleted_noted",
    "when_dataset_purged",
]

log = logging.getLogger(__name__)


async def request_deletion(uow: UnitOfWork[GatewayRepository], store: AsyncArtifactStore, *,
                           deletion_id: uuid.UUID, dataset_id: uuid.UUID, reason: DeletionReason,
                           requested_at: datetime, organization_id: uuid.UUID | None = None) -> DeletionStart | None:
    """Start erasing a dataset (step 1 above); the deletion already under way if any; None if no such dataset.

    ``uow`` must have ``deletion_id`` as its job id: the services' answers come back under it.
    """
    started = await uow.repo.start_deletion(deletion_id=deletion_id, dataset_id=dataset_id, reason=reason,
                                            requested_at=requested_at, services=purging_services(),
                                            organization_id=organization_id)
    if started is None or not started.created:
        return started
    await uow.tombstone(dataset_id)
    await uow.emit(DatasetDeleted(dataset_id=dataset_id, reason=reason, requested_at=requested_at,
                                  job_ids=list(started.job_ids)))
    if started.raw_key:
        await store.delete(started.raw_key)
    return started


async def delete_dataset(ports: GatewayPorts, dataset_id: uuid.UUID, *, reason: DeletionReason,
                         organization_id: uuid.UUID | None = None) -> DeletionStart | None:
    """``request_deletion`` in one transaction (its event is published after the commit), then tell the jobs'
    listeners. ``organization_id``: only that organisation's dataset (None: any, for the retention sweep)."""
    deletion_id = uuid.uuid4()
    async with ports.storage.write(deletion_id) as uow:
        started = await request_deletion(uow, ports.async_store, deletion_id=deletion_id, dataset_id=dataset_id,
                                         reason=reason, requested_at=datetime.now(UTC),
                                         organization_id=organization_id)
    if started is not None and started.created:
        for job_id in started.job_ids:
            try:  # a progress stream of the dataset's job ends here
                await ports.notifier.publish(str(job_id), {"type": "error.occurred", "job_id": str(job_id),
                                                     "status": "failed", "code": "dataset_deleted",
                                                     "message": "The dataset was deleted."})
            except Exception:
                log.warning("could not tell the listeners of job %s about the deletion", job_id, exc_info=True)
    return started


async def when_dataset_deleted_noted(event: DatasetDeleted, deps: StageDeps[GatewayRepository]) -> None:
    """The gateway emitted this deletion and removed its read-model rows in the same transaction: nothing
    is left to do when it comes back (the answers, dataset.purged, finish the deletion)."""


async def when_dataset_purged(event: DatasetPurged, deps: StageDeps[GatewayRepository]) -> None:
    """Note a service's acknowledgement of a deletion; with the last one, sweep the dataset's artifacts once
    more, delete the gateway's outbox rows naming it and keep only its hash."""
    async with deps.unit_of_work() as uow:
        record = await uow.repo.record_purge(event.deletion_id, service=event.service, rows=event.rows_deleted,
                                             artifacts=event.artifacts_deleted)
        if record is None or record.status != "pending" or not record.all_acknowledged:
            return
        await _finish(uow, deps.store, record)


async def _finish(uow: UnitOfWork[GatewayRepository], store: AsyncArtifactStore, record: DeletionRecord) -> None:
    for prefix in record.artifact_prefixes:
        await store.delete_prefix(prefix)
    if record.dataset_id is not None:
        await uow.purge_outbox(record.dataset_id)
    await uow.repo.complete_deletion(record.deletion_id)
    log.info("deletion %s completed", record.deletion_id)


# -- retention ---------------------------------------------------------------------------------
async def sweep_expired(ports: GatewayPorts, retention_days: float, *, batch: int = 100) -> int:
    """Delete (reason "retention") the datasets created more than ``retention_days`` ago; returns how many."""
    before = datetime.now(UTC) - timedelta(days=retention_days)
    async with ports.storage.read() as repo:
        expired = await repo.expired_datasets(before, limit=batch)
    started = 0
    for dataset_id in expired:
        if await delete_dataset(ports, dataset_id, reason="retention") is not None:
            started += 1
    if started:
        log.info("retention: deleting %d dataset(s) older than %g days", started, retention_days)
    return started


async def retention_loop(ports: GatewayPorts, retention_days: float, interval_s: float) -> None:
    """Run ``sweep_expired`` every ``interval_s`` until cancelled."""
    while True:
        try:
            while await sweep_expired(ports, retention_days) > 0:
                pass
        except Exception:
            log.exception("retention sweep failed; trying again in %g s", interval_s)
        await asyncio.sleep(interval_s)
