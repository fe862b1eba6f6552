"""Starting an upload's job (the upload route, and a re-ingest of a stored file), and the upload's bounded
wait for ingest's verdict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from shared_contracts import ArtifactRef
from shared_contracts.events import AnalysisOptions, DatasetUploaded, IngestOptions

from ..adapters.deletions import GatewayRepository
from ..adapters.notifier import JobNotifier, JobSubscription, SubscriptionLost
from ..domain.jobs import ingest_has_answered
from ..ports import GatewayStorage

__all__ = ["start_upload", "wait_for_ingest_verdict"]


async def start_upload(storage: GatewayStorage, *, dataset_id: uuid.UUID, job_id: uuid.UUID, raw: ArtifactRef,
                       display_name: str, ingest: IngestOptions, analysis: AnalysisOptions | None,
                       organization_id: uuid.UUID, owner_id: uuid.UUID,
                       check: Callable[[GatewayRepository], Awaitable[None]] | None = None,
                       noted: dict[str, Any] | None = None) -> None:
    """In one transaction: the dataset (its raw file already stored), its job (an analysis when ``analysis`` is
    given) and the dataset.uploaded event that starts ingest. ``check`` runs first in the transaction (the
    Idempotency-Key's claim, the analysis quota); ``noted`` adds fields to the job's options (where a re-ingest came from)."""
    owner = {"organization_id": organization_id, "owner_id": owner_id}
    async with storage.write(job_id) as uow:
        if check is not None:
            await check(uow.repo)
        await uow.repo.insert_dataset(dataset_id=dataset_id, display_name=display_name, size_bytes=raw.size_bytes,
                                      raw=raw.model_dump(), upload_job_id=job_id, **owner)
        await uow.repo.insert_job(job_id=job_id, kind="analysis" if analysis else "upload", dataset_id=dataset_id,
                                  options={"ingest": ingest.model_dump(),
                                           "analysis": analysis.model_dump() if analysis else None, **(noted or {})},
                                  **owner)
        # the analysis' time budget counts from the request: the stages before it spend part of it
        requested = analysis.model_copy(update={"requested_at": datetime.now(UTC)}) if analysis is not None else None
        await uow.emit(DatasetUploaded(dataset_id=dataset_id, raw=raw, display_name=display_name, ingest=ingest,
                                       analysis=requested))

log = logging.getLogger(__name__)


async def wait_for_ingest_verdict(notifier: JobNotifier, job_id: str,
                                  read_dataset: Callable[[], Awaitable[dict[str, Any] | None]], *,
                                  timeout_s: float, recheck_s: float = 1.0) -> dict[str, Any] | None:
    """The dataset row once ingest accepted or rejected the upload; None when the deadline passes first.

    The read model is the truth and is read at least every ``recheck_s`` seconds; a message on the job's
    channel only wakes the check early. So a late or lost message costs at most ``recheck_s``, and a
    notifier that cannot subscribe, or breaks while waiting, leaves plain polling until the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with contextlib.AsyncExitStack() as stack:
        subscription: JobSubscription | None
        try:
            # subscribed before the first read: a verdict landing in between still wakes the wait
            subscription = await stack.enter_async_context(notifier.subscribe(job_id))
        except SubscriptionLost as exc:
            log.warning("waiting for ingest of job %s without notifications: %s", job_id, exc)
            subscription = None
        while True:
            row = await read_dataset()
            if row is not None and ingest_has_answered(row["status"]):
                return row
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            pause = min(recheck_s, remaining)
            if subscription is None:
                await asyncio.sleep(pause)
                continue
            try:
                await subscription.get(timeout=pause)
            except SubscriptionLost as exc:
                log.warning("notifications for job %s stopped; polling until the deadline: %s", job_id, exc)
                subscription = None
