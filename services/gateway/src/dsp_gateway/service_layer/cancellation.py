"""Cancelling a job: the user's request ends it at once, and every stage is told.

In one transaction the job becomes ``cancelled`` (terminal: no later event moves it, see
``service_layer.handlers``), an upload's dataset that had not reached its profile becomes ``failed`` with the
code ``cancelled`` (it would otherwise wait forever for a stage that stopped), and ``job.cancel_requested`` is
queued in the outbox. After the commit the job's progress stream gets its last message, ``job.cancelled``.
The stages stop their work on the job at their next step and acknowledge with ``job.cancelled``, which the
read model adds to the job's ``cancellation.stages``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mesh_kit.metrics import JOBS
from shared_contracts.events import JobCancelRequested

from ..adapters.deletions import GatewayRepository
from ..adapters.notifier import JobNotifier
from ..domain.datasets import dataset_update_for_cancelled_upload
from ..domain.jobs import cancellation_record, cancelled_message
from ..ports import GatewayStorage

__all__ = ["JobAlreadyEnded", "cancel_job"]

log = logging.getLogger(__name__)


@dataclass
class JobAlreadyEnded(Exception):
    """The job had ended (completed, failed or cancelled) before the request."""

    status: str


async def cancel_job(storage: GatewayStorage, notifier: JobNotifier, *, job_id: uuid.UUID, requested_by: uuid.UUID,
                     reason: str = "asked by the user",
                     check: Callable[[GatewayRepository], Awaitable[None]] | None = None,
                     then: Callable[[GatewayRepository, dict[str, Any]], Awaitable[None]] | None = None
                     ) -> dict[str, Any]:
    """End the job as cancelled and publish ``job.cancel_requested``; the job's row after. ``check`` runs first
    in the transaction and ``then`` last, with the cancelled job (the Idempotency-Key's claim and its answer).

    Raises
    ------
    JobAlreadyEnded
        The job had ended already (the request changes nothing).
    """
    requested_at = datetime.now(UTC)
    async with storage.write(job_id) as uow:
        repo = uow.repo
        if check is not None:
            await check(repo)
        job = await repo.mark_cancelled(job_id, cancellation_record(requested_at=requested_at, reason=reason,
                                                                    requested_by=requested_by))
        if job is None:
            current = await repo.get_job(job_id)
            raise JobAlreadyEnded(current["status"] if current else "missing")
        dataset = await repo.get_dataset(uuid.UUID(str(job["dataset_id"])))
        if dataset is not None and str(dataset["upload_job_id"]) == str(job_id):
            update = dataset_update_for_cancelled_upload(dataset["status"])
            if update is not None:
                await repo.update_dataset(uuid.UUID(str(dataset["dataset_id"])), **update.stored())
        await uow.emit(JobCancelRequested(requested_at=requested_at, reason=reason))
        if then is not None:
            await then(repo, job)
    JOBS.labels("gateway", "cancelled").inc()
    try:
        await notifier.publish(str(job_id), cancelled_message(job))
    except Exception:  # the job is cancelled all the same; a listener sees it at its next poll
        log.warning("the progress stream of job %s was not told of its cancellation", job_id, exc_info=True)
    return job
