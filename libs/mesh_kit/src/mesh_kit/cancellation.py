"""Job cancellation in a runtime: the tokens of the jobs a process works on, and the jobs it knows are cancelled.

A user cancels a job at the gateway, which ends it as ``cancelled`` and publishes
``job.cancel_requested``. Every stage then has to learn of it at once, even while its worker is busy
with that very job, and has to drop the job's later events:

- ``CancelRegistry`` is one process's view: ``running(job_id)`` makes the ``CancelToken`` a delivery
  passes to its use case as ``StageDeps.cancel``, and ``cancel(job_id)`` (from any thread) cancels the
  job's running tokens and remembers the job, so that a token made later is cancelled from the start;
- ``record_cancellation`` is the use case every stage subscribes to ``JobCancelRequested`` with: it
  records the cancellation durably in the service's own ``cancelled_jobs`` table (``UnitOfWork.cancel_job``),
  so that an event of the job that arrives later, or at a replica started after, is dropped;
- the delivery contract (``mesh_kit.delivery``, ``mesh_kit.consumer``) turns a use case that raises
  ``Cancelled``, or an event of a cancelled job, into the inbox row and ``job.cancelled``: no retry,
  no dead letter, no ``stage.failed``, and nothing of the use case's unit of work committed.

How the news travels fastest differs per runtime: a service's ``CancelListener`` consumes a control queue
of its own (exclusive to the process, bound to ``job.cancel_requested``), the local bus cancels the
registry as it reads the event from the gateway's outbox, and ``InMemoryMesh.cancel`` is called directly.

Examples
--------
>>> import uuid
>>> registry = CancelRegistry()
>>> job = uuid.uuid4()
>>> with registry.running(job) as token:
...     registry.cancel(job, "asked by the user")
...     token.cancelled
1
True
>>> registry.is_cancelled(job)
True
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared_contracts import Envelope
from shared_contracts.cancel import CancelToken
from shared_contracts.events import JobCancelled, JobCancelRequested

from .ports import ServiceSpec, StageDeps, Subscription

__all__ = ["CancelRegistry", "CancelledJob", "cancel_subscription", "is_cancel_request", "job_cancelled",
           "record_cancellation", "stopped_after_s", "subscribes_to_cancel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CancelledJob:
    """What a runtime knows of a cancelled job."""

    requested_at: datetime | None = None
    reason: str = ""


class CancelRegistry:
    """The cancelled jobs one process knows of, and the tokens of the deliveries it runs; thread-safe.

    Parameters
    ----------
    remember
        How many cancelled jobs to keep in memory (the oldest are forgotten; the durable record stays).
    """

    def __init__(self, *, remember: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._running: dict[uuid.UUID, list[CancelToken]] = {}
        self._cancelled: OrderedDict[uuid.UUID, CancelledJob] = OrderedDict()
        self._remember = remember

    def cancel(self, job_id: uuid.UUID, reason: str = "", requested_at: datetime | None = None) -> int:
        """Cancel the job: its running tokens now, and the tokens made for it later; how many were running."""
        with self._lock:
            if job_id not in self._cancelled:
                self._cancelled[job_id] = CancelledJob(requested_at or datetime.now(UTC), reason)
                while len(self._cancelled) > self._remember:
                    self._cancelled.popitem(last=False)
            tokens = list(self._running.get(job_id, ()))
        for token in tokens:
            token.cancel(reason or "the job was cancelled")
        if tokens:
            log.info("cancelled %d running deliveries of job %s", len(tokens), job_id)
        return len(tokens)

    def cancelled(self, job_id: uuid.UUID) -> CancelledJob | None:
        """The job's cancellation, if this process knows of one."""
        with self._lock:
            return self._cancelled.get(job_id)

    def is_cancelled(self, job_id: uuid.UUID) -> bool:
        return self.cancelled(job_id) is not None

    def running_jobs(self) -> list[uuid.UUID]:
        """The jobs with a delivery under way."""
        with self._lock:
            return list(self._running)

    @contextmanager
    def running(self, job_id: uuid.UUID) -> Iterator[CancelToken]:
        """The token of one delivery of the job, cancelled by ``cancel`` until the block ends."""
        token = CancelToken()
        with self._lock:
            self._running.setdefault(job_id, []).append(token)
            known = self._cancelled.get(job_id)
        if known is not None:
            token.cancel(known.reason or "the job was cancelled")
        try:
            yield token
        finally:
            with self._lock:
                tokens = self._running.get(job_id, [])
                if token in tokens:
                    tokens.remove(token)
                if not tokens:
                    self._running.pop(job_id, None)


def is_cancel_request(envelope: Envelope[Any]) -> bool:
    return isinstance(envelope.payload, JobCancelRequested)


def stopped_after_s(requested_at: datetime | None) -> float | None:
    """Seconds from the cancellation's request to now (None if unknown; 0 for a clock behind the gateway's)."""
    if requested_at is None:
        return None
    if requested_at.tzinfo is None:
        requested_at = requested_at.replace(tzinfo=UTC)
    return round(max(0.0, (datetime.now(UTC) - requested_at).total_seconds()), 3)


def job_cancelled(service: str, envelope: Envelope[Any], *, step: str = "",
                  requested_at: datetime | None = None) -> JobCancelled:
    """The acknowledgement of ``service`` that it stopped (or dropped) ``envelope`` of a cancelled job."""
    dataset_id = getattr(envelope.payload, "dataset_id", None)
    return JobCancelled(stage=service, step=step[:200],  # type: ignore[arg-type]  # a stage's own name
                        stopped_after_s=stopped_after_s(requested_at),
                        dataset_id=dataset_id if isinstance(dataset_id, uuid.UUID) else None)


async def record_cancellation(event: JobCancelRequested, deps: StageDeps[Any]) -> None:
    """Record in this service that the job is cancelled, so its later events are dropped here.

    The runtime already cancelled the job's running work when the event reached it; this makes it durable.
    """
    async with deps.unit_of_work() as uow:
        await uow.cancel_job(deps.job_id, requested_at=event.requested_at, reason=event.reason)


def cancel_subscription() -> Subscription[JobCancelRequested]:
    """The subscription every stage's bootstrap lists for ``job.cancel_requested``."""
    return Subscription(JobCancelRequested, record_cancellation)


def subscribes_to_cancel(spec: ServiceSpec) -> bool:
    """Whether a service takes part in cancellation: a stage, whose manifest subscribes it to
    ``job.cancel_requested``; not the gateway, which reads every event (its read model records the stages'
    acknowledgements of a cancelled job)."""
    return not spec.manifest.catch_all and JobCancelRequested in spec.manifest.subscribes
