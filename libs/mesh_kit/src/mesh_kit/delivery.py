"""Delivering one event to one service's use case, whatever holds the service's inbox.

The part of the delivery contract (``mesh_kit.consumer``) that does not depend on a broker:

1. an event already in the service's inbox is a duplicate: nothing happens;
2. an event naming a dataset erased in the service is discarded (recorded as handled);
3. the use case runs; its unit of work records the inbox row, its results and its events together;
4. a ``StageError`` ends the job: the inbox row, the stage's own failure event (if any) and
   ``stage.failed`` are recorded together, unless the dataset was erased meanwhile;
5. any other exception propagates to the caller, which decides on retries;
6. in a service that takes part in cancellation (``cancels`` given: the stages), an event of a job
   cancelled here is dropped, and a use case that raises ``Cancelled`` (its ``deps.cancel`` token was
   cancelled) is stopped: the inbox row and ``job.cancelled`` are recorded together, nothing its unit
   of work wrote is committed (a unit of work whose token is cancelled by the time it ends rolls back),
   and there is no retry, no dead letter and no ``stage.failed``. ``job.cancel_requested`` itself cancels
   the job's running tokens in the process (``mesh_kit.cancellation``) before its use case records it.

A ``Mailbox`` is a service's side of it: ``InMemoryMesh`` keeps one in memory, ``LocalBus`` in the
service's SQLite database. ``progress_sink`` turns a stage's progress reports into ``job.progress``
events, for those and for the Postgres runner.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from enum import StrEnum
from typing import Any, cast

from shared_contracts import Envelope, EventPayload
from shared_contracts.cancel import Cancelled, CancelToken, never_cancelled
from shared_contracts.envelope import TraceContext
from shared_contracts.errors import StageError
from shared_contracts.events import JobProgress, Stage, StageFailed

from .artifacts import AsyncArtifactStore
from .cancellation import CancelledJob, CancelRegistry, is_cancel_request, job_cancelled
from .deletion import datasets_named_by
from .ports import AlreadyHandled, Notify, StageDeps, UnitOfWork, no_notify

__all__ = ["Mailbox", "Outcome", "deliver", "guarded_unit_of_work", "describe_error", "give_up", "progress_sink", "retries_exhausted",
           "stage_failed"]

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    DISCARDED = "discarded"
    """The event names a dataset erased in this service: recorded as handled, nothing done."""
    CANCELLED = "cancelled"
    """The event's job is cancelled: recorded as handled with ``job.cancelled``, nothing else done."""


class Mailbox(abc.ABC):
    """One service's inbox, tombstones and units of work."""

    @abc.abstractmethod
    async def seen(self, event_id: uuid.UUID) -> bool:
        """Whether the event is in the inbox already."""

    @abc.abstractmethod
    async def tombstoned(self, dataset_id: uuid.UUID) -> bool:
        """Whether the dataset was erased in this service."""

    @abc.abstractmethod
    async def discard(self, envelope: Envelope[Any]) -> None:
        """Record the event as handled without doing anything."""

    @abc.abstractmethod
    def unit_of_work(self, envelope: Envelope[Any]) -> AbstractAsyncContextManager[UnitOfWork[Any]]:
        """The use case's unit of work for this event: raises ``AlreadyHandled`` if another delivery committed."""

    @abc.abstractmethod
    async def fail(self, envelope: Envelope[Any] | None, job_id: uuid.UUID, events: Sequence[EventPayload]) -> None:
        """Record the event as handled and queue ``events`` of the job, together."""

    async def cancelled(self, job_id: uuid.UUID) -> CancelledJob | None:
        """The job's cancellation as this service recorded it (``cancelled_jobs``), if it did."""
        return None


def describe_error(exc: BaseException) -> str:
    """An exception as a failure reason quotes it: its type and the start of its message."""
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def retries_exhausted(service: str, attempts: int, last_error: str) -> str:
    """The reason a user reads for a job whose event kept raising in ``service``: the stage, the attempts and the
    error's type (``last_error`` as ``describe_error`` wrote it), never its message, which may quote data or
    internals; the message is in the service's log with the job id, and in the dead letter's headers.

    >>> retries_exhausted("etl", 3, "ComputeError: cannot compare 'x' with /var/lib/dsp/secret")
    'The etl stage failed 3 times on this job with an internal error (ComputeError), logged with the job id; start the analysis again, or report the job id if it fails again.'
    """
    kind = last_error.split(":", 1)[0].strip()
    of_kind = f" ({kind})" if kind.isidentifier() else ""
    return (f"The {service} stage failed {attempts} times on this job with an internal error{of_kind}, logged with "
            "the job id; start the analysis again, or report the job id if it fails again.")


def stage_failed(service: str, envelope: Envelope[Any], *, code: str, reason: str, attempts: int = 1) -> StageFailed:
    """The ``stage.failed`` of a service that could not handle ``envelope``."""
    return StageFailed(stage=cast(Stage, service), code=code, reason=reason, failed_event_id=envelope.event_id,
                       failed_routing_key=envelope.routing_key, attempts=attempts,
                       dataset_id=getattr(envelope.payload, "dataset_id", None))


async def deliver(service: str, mailbox: Mailbox, handler: Callable[[Any, StageDeps[Any]], Awaitable[None]],
                  envelope: Envelope[Any], *, store: AsyncArtifactStore, progress: Callable[[float, str], None],
                  notify: Notify = no_notify, attempts: int = 1, cancels: CancelRegistry | None = None) -> Outcome:
    """Run one use case of ``service`` for ``envelope`` under the contract above.

    ``cancels`` is the process's registry of cancelled jobs, for a service that takes part in cancellation.
    """
    if await mailbox.seen(envelope.event_id):
        return Outcome.DUPLICATE
    if any([await mailbox.tombstoned(erased) for erased in datasets_named_by(envelope.payload)]):
        await mailbox.discard(envelope)
        return Outcome.DISCARDED
    request = is_cancel_request(envelope)
    if cancels is not None and request:
        cancels.cancel(envelope.job_id, envelope.payload.reason, envelope.payload.requested_at)
    elif cancels is not None:
        known = cancels.cancelled(envelope.job_id) or await mailbox.cancelled(envelope.job_id)
        if known is not None:
            log.info("%s dropped %s of cancelled job %s", service, envelope.routing_key, envelope.job_id)
            await mailbox.fail(envelope, envelope.job_id, [job_cancelled(service, envelope)])
            return Outcome.CANCELLED
    running = cancels.running(envelope.job_id) if cancels is not None and not request else nullcontext(
        never_cancelled())
    with running as token:
        deps: StageDeps[Any] = StageDeps(
            job_id=envelope.job_id, event_id=envelope.event_id, producer=envelope.producer,
            occurred_at=envelope.occurred_at, store=store,
            unit_of_work=lambda: guarded_unit_of_work(mailbox.unit_of_work(envelope), token),
            progress=progress, notify=notify, cancel=token,
        )
        try:
            await handler(envelope.payload, deps)
        except AlreadyHandled:
            return Outcome.DUPLICATE
        except Cancelled as exc:
            known = (cancels.cancelled(envelope.job_id) if cancels is not None else None) or \
                await mailbox.cancelled(envelope.job_id)
            log.info("%s stopped job %s at %r: cancelled", service, envelope.job_id, exc.step)
            await mailbox.fail(envelope, envelope.job_id, [
                job_cancelled(service, envelope, step=exc.step,
                              requested_at=known.requested_at if known is not None else None)])
            return Outcome.CANCELLED
        except StageError as exc:
            log.warning("%s stage failed: %s", service, exc.message, extra={"fields": {"code": exc.code}})
            return await give_up(service, mailbox, envelope, code=exc.code, reason=exc.message, attempts=attempts,
                                 failure_event=exc.failure_event)
        except Exception as exc:
            if not token.cancelled:
                raise
            # a library that wrapped the interruption in an error of its own: still a cancellation, not a failure
            log.info("%s stopped job %s: cancelled (%s)", service, envelope.job_id, describe_error(exc))
            known = cancels.cancelled(envelope.job_id) if cancels is not None else None
            await mailbox.fail(envelope, envelope.job_id, [
                job_cancelled(service, envelope, step="interrupted",
                              requested_at=known.requested_at if known is not None else None)])
            return Outcome.CANCELLED
    return Outcome.HANDLED


@asynccontextmanager
async def guarded_unit_of_work(unit: AbstractAsyncContextManager[UnitOfWork[Any]],
                               token: CancelToken) -> AsyncIterator[UnitOfWork[Any]]:
    """``unit`` that does not commit once ``token`` is cancelled: it raises ``Cancelled`` and rolls back."""
    token.check("before recording the results")
    async with unit as uow:
        yield uow
        token.check("recording the results")


async def give_up(service: str, mailbox: Mailbox, envelope: Envelope[Any], *, code: str, reason: str,
                  attempts: int = 1, failure_event: EventPayload | None = None) -> Outcome:
    """End the job of ``envelope`` in ``service``: the inbox row, ``failure_event`` and ``stage.failed`` together;
    only the inbox row if the dataset was erased here meanwhile (a failure would carry its id back)."""
    if any([await mailbox.tombstoned(erased) for erased in datasets_named_by(envelope.payload)]):
        await mailbox.discard(envelope)
        return Outcome.DISCARDED
    events: list[EventPayload] = [] if failure_event is None else [failure_event]
    events.append(stage_failed(service, envelope, code=code, reason=reason, attempts=attempts))
    await mailbox.fail(envelope, envelope.job_id, events)
    return Outcome.FAILED


def progress_sink(stage: str, job_id: uuid.UUID, send: Callable[[Envelope[Any]], Coroutine[Any, Any, None]], *,
                  trace: TraceContext | None = None, every_s: float = 0.5) -> Callable[[float, str], None]:
    """A ``StageDeps.progress`` that sends ``job.progress`` at most every ``every_s`` (and always at 1.0).

    Must be made on the event loop; it may then be called from any thread (a stage reports from its worker).
    """
    loop = asyncio.get_running_loop()
    last = {"t": 0.0}

    def sink(fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last["t"] < every_s and fraction < 1.0:
            return
        last["t"] = now
        payload = JobProgress(stage=cast(Stage, stage), fraction=max(0.0, min(1.0, fraction)), message=message[:500])
        envelope = Envelope.wrap(payload, job_id=job_id, producer=stage, trace=trace)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(send(envelope))
        else:
            asyncio.run_coroutine_threadsafe(send(envelope), loop)

    return sink
