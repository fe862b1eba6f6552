"""The gateway's reaction to events: keep the read model of datasets and jobs, tell the WebSocket."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from mesh_kit.artifacts import AsyncArtifactStore
from mesh_kit.metrics import JOBS
from mesh_kit.ports import StageDeps
from shared_contracts import EventPayload

from ..adapters.repository import ReadModel
from ..domain.jobs import TERMINAL, job_update_for, ws_message_for

__all__ = ["when_any_event_update_read_model"]

log = logging.getLogger(__name__)


async def _update_dataset_for(read_model: ReadModel, store: AsyncArtifactStore, key: str, payload: dict[str, Any],
                              job: dict[str, Any]) -> None:
    dataset_id = uuid.UUID(payload["dataset_id"]) if payload.get("dataset_id") else None
    if dataset_id is None:
        return
    if key == "dataset.ingested.v1":
        await read_model.update_dataset(dataset_id, status="ingested", parquet=payload["parquet"],
                                        ingest_report=payload["ingest_report"], row_count=payload["row_count"],
                                        columns=payload["columns"])
    elif key == "dataset.profiled.v1":
        await read_model.update_dataset(dataset_id, status="profiled", profile=payload["profile"],
                                        quality_score=payload["quality_score"])
    elif key in ("dataset.rejected.v1", "stage.failed.v1") and job.get("kind") == "upload":
        dataset = await read_model.get_dataset(dataset_id)
        status = "rejected" if key == "dataset.rejected.v1" else "failed"
        # a rejection is the more precise verdict: the stage.failed that accompanies it must not hide it
        if dataset is None or dataset["status"] == "profiled" or (status == "failed" and dataset["status"] == "rejected"):
            return
        error = {"code": payload.get("code"), "message": payload.get("message") or payload.get("reason"),
                 "details": payload.get("details", {})}
        await read_model.update_dataset(dataset_id, status=status, error=error)
        if status == "rejected":
            # nothing half-written stays behind: the raw upload of a rejected dataset is removed
            await store.delete(dataset["raw"]["key"])


async def when_any_event_update_read_model(event: EventPayload, deps: StageDeps[ReadModel]) -> None:
    """Fold every event of the mesh into the jobs and datasets read model, then notify listeners."""
    key = event.routing_key()
    payload = event.model_dump(mode="json")
    job_id = deps.job_id
    notify: dict[str, Any] | None = None
    async with deps.unit_of_work() as uow:
        read_model = uow.repo
        job = await read_model.get_job(job_id)
        if job is None:
            log.warning("event %s for unknown job %s ignored", key, job_id)
            return
        if key != "job.progress.v1":
            await read_model.record_event(event_id=deps.event_id, job_id=job_id, routing_key=key,
                                          producer=deps.producer, payload=payload, occurred_at=deps.occurred_at)
        was_terminal = job["status"] in TERMINAL
        update = job_update_for(key, payload, analysis_job=job["kind"] != "upload")
        await _update_dataset_for(read_model, deps.store, key, payload, job)
        if key == "dashboard.ready.v1":
            await read_model.insert_dashboard(dashboard_id=uuid.UUID(payload["dashboard_id"]),
                                              job_id=job_id, dataset_id=uuid.UUID(payload["dataset_id"]),
                                              html=payload["html"], pdf=payload.get("pdf"))
        after = await read_model.apply_job_update(job_id, update) or job
        if not was_terminal:
            notify = ws_message_for(key, payload, job_id=str(job_id), kind=job["kind"], progress=after["progress"])
            if notify is not None:
                notify["status"] = after["status"]
            if after["status"] in TERMINAL:
                JOBS.labels(after["status"]).inc()
    if notify is not None:
        await deps.notify(job_id, notify)
