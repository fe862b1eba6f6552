"""The gateway's reaction to events: keep the read model of datasets and jobs, tell the WebSocket."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from mesh_kit.consumer import HandlerContext
from mesh_kit.metrics import JOBS
from mesh_kit.service import Runtime
from shared_contracts import Envelope

from ..adapters import repository
from ..domain.jobs import TERMINAL, job_update_for, ws_message_for
from .read_model import update_dataset_for

__all__ = ["when_any_event_update_read_model"]

log = logging.getLogger(__name__)


async def when_any_event_update_read_model(envelope: Envelope[Any], ctx: HandlerContext, runtime: Runtime) -> None:
    """Fold every event of the mesh into the jobs and datasets read model, then notify listeners."""
    key = envelope.routing_key
    payload = envelope.payload.model_dump(mode="json")
    job_id = envelope.job_id
    notify: dict[str, Any] | None = None
    async with ctx.unit_of_work() as uow:
        job = await repository.get_job(uow.conn, job_id)
        if job is None:
            log.warning("event %s for unknown job %s ignored", key, job_id)
            return
        if key != "job.progress.v1":
            await repository.record_event(uow.conn, event_id=envelope.event_id, job_id=job_id, routing_key=key,
                                          producer=envelope.producer, payload=payload,
                                          occurred_at=envelope.occurred_at)
        was_terminal = job["status"] in TERMINAL
        update = job_update_for(envelope.payload, analysis_job=job["kind"] != "upload")
        await update_dataset_for(uow.conn, runtime.store, envelope.payload, job)
        if key == "dashboard.ready.v1":
            await repository.insert_dashboard(uow.conn, dashboard_id=uuid.UUID(payload["dashboard_id"]),
                                              job_id=job_id, dataset_id=uuid.UUID(payload["dataset_id"]),
                                              html=payload["html"], pdf=payload.get("pdf"))
        after = await repository.apply_job_update(uow.conn, job_id, update) or job
        if not was_terminal:
            notify = ws_message_for(envelope.payload, job_id=str(job_id), kind=job["kind"], progress=after["progress"])
            if notify is not None:
                notify["status"] = after["status"]
            if after["status"] in TERMINAL:
                JOBS.labels(after["status"]).inc()
    if notify is not None:
        notifier = runtime.extras["notifier"]
        await notifier.publish(str(job_id), notify)
