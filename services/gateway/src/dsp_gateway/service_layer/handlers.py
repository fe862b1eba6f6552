"""The gateway's use case for events: keep the read model of datasets and jobs, tell the WebSocket.

A cancelled job takes no more changes from events: they are kept in its history (``job_events``), and the
stages' ``job.cancelled`` acknowledgements are added to its ``cancellation``; nothing else moves.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from mesh_kit.artifacts import AsyncArtifactStore
from mesh_kit.metrics import JOBS
from mesh_kit.ports import StageDeps
from shared_contracts import EventPayload
from shared_contracts.events import AnalysisCompleted, DashboardReady, JobCancelled, JobProgress

from ..adapters.repository import ReadModel
from ..domain.datasets import dataset_update_for
from ..domain.jobs import TERMINAL, cancel_ack, job_update_for, ws_message_for

__all__ = ["when_any_event_update_read_model"]

log = logging.getLogger(__name__)


async def _update_dataset_for(read_model: ReadModel, store: AsyncArtifactStore, event: EventPayload,
                              job: dict[str, Any]) -> None:
    """Fold one event of ``job`` into the row of the dataset it names, if any."""
    dataset_id: uuid.UUID | None = getattr(event, "dataset_id", None)
    if dataset_id is None:
        return
    dataset = await read_model.get_dataset(dataset_id)
    if dataset is None:
        return
    update = dataset_update_for(event, upload_job=dataset["upload_job_id"] == job["job_id"], current=dataset["status"])
    if update is None:
        return
    await read_model.update_dataset(dataset_id, **update.stored())
    if update.delete_raw:
        await store.delete(dataset["raw"]["key"])


async def when_any_event_update_read_model(event: EventPayload, deps: StageDeps[ReadModel]) -> None:
    """Fold every event of the mesh into the jobs and datasets read model, then notify listeners."""
    job_id = deps.job_id
    notify: dict[str, Any] | None = None
    async with deps.unit_of_work() as uow:
        read_model = uow.repo
        job = await read_model.get_job(job_id)
        if job is None:
            log.warning("event %s for unknown job %s ignored", event.routing_key(), job_id)
            return
        if not isinstance(event, JobProgress):
            await read_model.record_event(event_id=deps.event_id, job_id=job_id, routing_key=event.routing_key(),
                                          producer=deps.producer, payload=event.model_dump(mode="json"),
                                          occurred_at=deps.occurred_at)
        if job["status"] == "cancelled":
            # the user stopped it: a late result must not complete it, nor record datasets, models, dashboards
            if isinstance(event, JobCancelled):
                await read_model.add_cancel_ack(job_id, cancel_ack(event, occurred_at=deps.occurred_at))
            return
        was_terminal = job["status"] in TERMINAL
        update = job_update_for(event, analysis_job=job["kind"] != "upload", comparison_job=job["kind"] == "comparison")
        await _update_dataset_for(read_model, deps.store, event, job)
        if isinstance(event, DashboardReady):
            await read_model.insert_dashboard(dashboard_id=event.dashboard_id, job_id=job_id,
                                              dataset_id=event.dataset_id, html=event.html.model_dump(mode="json"),
                                              pdf=event.pdf.model_dump(mode="json") if event.pdf else None)
        if isinstance(event, AnalysisCompleted) and event.model_id is not None:
            # the model belongs to the analysis' organisation: predict refuses it to everyone else
            await read_model.insert_model(model_id=event.model_id, job_id=job_id, dataset_id=event.dataset_id)
        after = await read_model.apply_job_update(job_id, update) or job
        if not was_terminal:
            notify = ws_message_for(event, job_id=str(job_id), kind=job["kind"], progress=after["progress"])
            if notify is not None:
                notify["status"] = after["status"]
            if after["status"] in TERMINAL:
                JOBS.labels("gateway", after["status"]).inc()
    if notify is not None:
        await deps.notify(job_id, notify)
