"""Handling one delivery: dedupe, work, commit, then ack; retry with backoff; dead-letter.

The contract every stage handler follows:

1. The delivery is parsed into a typed envelope. A body that cannot be parsed is poison: it
   goes to the dead-letter queue at once and the job is marked failed.
2. An event already recorded in the inbox was handled before: it is acked and nothing else
   happens (redelivery is harmless). Copies of one event that reach one process at once are handled one
   after the other (a lock per event id), so a later copy finds the inbox row and never rewrites the
   artifacts the first one committed.
3. The handler does its work (artifacts are written under keys derived from ids, so a repeat
   overwrites rather than duplicates), then opens a unit of work that records the inbox row,
   the results and the outgoing events in ONE transaction.
4. Only after that commit is the delivery acked.
5. A ``StageError`` is a business failure (bad input): the job fails with its reason, no retry.
   Any other exception is retried with backoff through the retry queues, then dead-lettered
   and the job fails with reason ``retries_exhausted``.
6. In a stage (a runner given ``cancels``), an event of a job cancelled here is dropped and a handler
   that raises ``Cancelled`` is stopped: the inbox row and ``job.cancelled`` are recorded together,
   nothing of the handler's unit of work is committed, no retry, no dead letter, no ``stage.failed``
   (``mesh_kit.delivery``, ``mesh_kit.cancellation``).
7. Losing the database is not the job's fault. When handling fails because a PostgreSQL connection was lost or
   none could be had (``lost_database``), the runner keeps the delivery unsettled, waits until a probe finds the
   database answering (at once after a cut connection; after a restart, once it is back), and handles the
   delivery again from step 1. No retry is spent and the broker's delivery count does not grow, so an outage of
   any length up to ``outage_wait_s`` never fails a job: nothing of the attempt was committed, and the inbox
   absorbs a repeat. A delivery caught in more than ``max_outages`` outages, or in an outage longer than that
   wait, goes back to the consumer, which requeues it after a pause.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from shared_contracts import Envelope, EventPayload, UnknownEventError, parse_envelope
from shared_contracts.cancel import Cancelled, never_cancelled
from shared_contracts.errors import StageError
from shared_contracts.events import Stage, StageFailed

from . import deletion
from .artifacts import AsyncArtifactStore
from .cancellation import CancelledJob, CancelRegistry, is_cancel_request, job_cancelled
from .delivery import Outcome, describe_error, guarded_unit_of_work, progress_sink, retries_exhausted
from .logs import bind_job, unbind_job
from .metrics import DEAD_LETTERS, MESSAGE_DURATION, MESSAGES_CONSUMED
from .outbox import OutboxRelay, add_to_outbox, amqp_headers
from .ports import AlreadyHandled, Notify, StageDeps, UnitOfWork, no_notify
from .publisher import EventPublisher
from .topology import Topology
from .tracing import context_from, current_trace_context

__all__ = [
    "ORIGINAL_ROUTING_KEY",
    "Delivery",
    "DeliveryHandler",
    "Outcome",
    "PostgresUnitOfWork",
    "StageRunner",
    "lost_database",
]

log = logging.getLogger(__name__)

ORIGINAL_ROUTING_KEY = "x-dsp-original-routing-key"
"""Header of a message sent straight to a retry or dead-letter queue: the key it was published with."""


@dataclass(frozen=True)
class Delivery:
    """What the consumer needs of one AMQP delivery."""

    body: bytes
    headers: Mapping[str, Any]
    routing_key: str
    message_id: str | None = None

    @property
    def retry_count(self) -> int:
        return int(self.headers.get("x-retry-count", 0) or 0)

    @property
    def delivery_count(self) -> int:
        """Broker-side redeliveries (quorum queues count crashes and nacks)."""
        return int(self.headers.get("x-delivery-count", 0) or 0)


@dataclass
class PostgresUnitOfWork(UnitOfWork[Any]):
    """The unit of work over one Postgres transaction: results through ``repo``, events into the outbox."""

    conn: AsyncConnection
    job_id: uuid.UUID
    producer: str
    repo: Any = None

    async def emit(self, payload: EventPayload) -> Envelope[Any]:
        envelope = Envelope.wrap(payload, job_id=self.job_id, producer=self.producer, trace=current_trace_context())
        await add_to_outbox(self.conn, envelope)
        return envelope

    async def is_deleted(self, dataset_id: uuid.UUID) -> bool:
        return await deletion.is_deleted(self.conn, dataset_id)

    async def tombstone(self, dataset_id: uuid.UUID) -> bool:
        return await deletion.tombstone(self.conn, dataset_id)

    async def purge_outbox(self, dataset_id: uuid.UUID) -> int:
        return await deletion.purge_outbox(self.conn, dataset_id)

    async def cancel_job(self, job_id: uuid.UUID, *, requested_at: datetime, reason: str = "") -> None:
        await self.conn.execute("INSERT INTO cancelled_jobs (job_id, requested_at, reason) VALUES (%s, %s, %s)"
                                " ON CONFLICT DO NOTHING", (job_id, requested_at, reason[:1000]))


_CONNECTION_STATES = ("08", "57P")
"""SQLSTATE classes of a lost server: connection exceptions, and the server shutting down or starting up."""


def lost_database(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a PostgreSQL connection lost or never made: a
    client-side connection failure (no SQLSTATE), a pool that had no connection to give, or the server's
    connection and shutdown states. A query's own errors (a deadlock, a timeout, a constraint) are not."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError):
            state = current.sqlstate
            if state is None or state.startswith(_CONNECTION_STATES):
                return True
        current = current.__cause__ or current.__context__
    return False


DeliveryHandler = Callable[[Envelope[Any], StageDeps[Any]], Awaitable[None]]
"""What the runner calls for a parsed delivery: the service's dispatch to its use cases."""


def _describe_unreadable(exc: Exception) -> str:
    """A short, plain description of why a message body is unreadable."""
    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        return f"{len(fields)} invalid or missing field(s): {', '.join(fields[:8])}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class StageRunner:
    """Runs one service's handlers over deliveries with the delivery contract above."""

    def __init__(self, *, service: str, pool: AsyncConnectionPool, publisher: EventPublisher,
                 topology: Topology, store: AsyncArtifactStore, relay: OutboxRelay | None = None,
                 repository: Callable[[AsyncConnection], Any] = lambda conn: None,
                 notify: Notify = no_notify, cancels: CancelRegistry | None = None,
                 outage_wait_s: float = 300.0, max_outages: int = 5) -> None:
        self.service = service
        self.outage_wait_s = outage_wait_s
        """How long a delivery waits for a lost database to answer again before it goes back to the consumer."""
        self.max_outages = max_outages
        """How many database outages one delivery waits out in place."""
        self.cancels = cancels
        """The process's cancelled jobs and running tokens, for a stage (None: the gateway)."""
        self.store = store
        self.repository = repository
        self.notify = notify
        self.pool = pool
        self.publisher = publisher
        self.topology = topology
        self.relay = relay
        self.consumer_name = f"{service}"
        self._handling: dict[uuid.UUID, tuple[asyncio.Lock, int]] = {}
        """A lock per event being handled in this process, with the copies holding or awaiting it."""

    # -- inbox -----------------------------------------------------------------------------
    async def _seen(self, event_id: uuid.UUID) -> bool:
        async with self.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT 1 FROM inbox WHERE consumer = %s AND event_id = %s",
                                   (self.consumer_name, event_id))
            ).fetchone()
        return row is not None

    async def _tombstoned(self, dataset_id: uuid.UUID) -> bool:
        async with self.pool.connection() as conn:
            return await deletion.is_deleted(conn, dataset_id, lock=False)

    async def _discard(self, envelope: Envelope[Any]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (%s, %s, %s)"
                               " ON CONFLICT DO NOTHING",
                               (self.consumer_name, envelope.event_id, envelope.routing_key))

    async def _cancelled(self, job_id: uuid.UUID) -> CancelledJob | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT requested_at, reason FROM cancelled_jobs WHERE job_id = %s",
                                            (job_id,))).fetchone()
        return None if row is None else CancelledJob(row[0], row[1])

    async def _acknowledge_cancelled(self, envelope: Envelope[Any], *, step: str = "",
                                     requested_at: datetime | None = None) -> Outcome:
        """The inbox row and ``job.cancelled``, together."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (%s, %s, %s)"
                               " ON CONFLICT DO NOTHING", (self.consumer_name, envelope.event_id, envelope.routing_key))
            uow = PostgresUnitOfWork(conn=conn, job_id=envelope.job_id, producer=self.service)
            await uow.emit(job_cancelled(self.service, envelope, step=step, requested_at=requested_at))
        if self.relay is not None:
            self.relay.notify()
        return Outcome.CANCELLED

    @asynccontextmanager
    async def _unit_of_work(self, envelope: Envelope[Any]) -> AsyncIterator[PostgresUnitOfWork]:
        async with self.pool.connection() as conn, conn.transaction():
            inserted = await (
                await conn.execute(
                    "INSERT INTO inbox (consumer, event_id, routing_key) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING 1",
                    (self.consumer_name, envelope.event_id, envelope.routing_key),
                )
            ).fetchone()
            if inserted is None:
                raise AlreadyHandled(str(envelope.event_id))
            yield PostgresUnitOfWork(conn=conn, job_id=envelope.job_id, producer=self.service,
                                     repo=self.repository(conn))
        if self.relay is not None:
            self.relay.notify()

    # -- the database going away ------------------------------------------------------------
    async def _database_answers(self) -> bool:
        """One ``SELECT 1`` through the pool, waiting a few seconds at most for a connection."""
        try:
            async with self.pool.connection(timeout=5.0) as conn:
                await conn.execute("SELECT 1")
            return True
        except OperationalError:
            return False

    async def _wait_for_database(self) -> bool:
        """Probe until the database answers (True) or ``outage_wait_s`` has passed (False); pauses from 0.25 s
        doubling to 4 s."""
        deadline = time.monotonic() + self.outage_wait_s
        pause = 0.25
        while time.monotonic() < deadline:
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            if await self._database_answers():
                return True
            pause = min(pause * 2, 4.0)
        log.error("the database did not answer within %.0f s", self.outage_wait_s)
        return False

    # -- progress --------------------------------------------------------------------------
    def _progress_sink(self, envelope: Envelope[Any]) -> Callable[[float, str], None]:
        return progress_sink(self.service, envelope.job_id, self._publish_quietly, trace=envelope.trace)

    async def _publish_quietly(self, envelope: Envelope[Any]) -> None:
        try:
            await self.publisher.publish(
                envelope.routing_key, envelope.model_dump_json().encode(),
                message_id=str(envelope.event_id), headers=amqp_headers(envelope),
            )
        except Exception:  # progress is informational; losing one is harmless
            log.warning("progress event not published", exc_info=True)

    # -- failure paths ---------------------------------------------------------------------
    async def _fail_job(self, envelope: Envelope[Any] | None, job_id: uuid.UUID | None, *, code: str,
                        reason: str, attempts: int, routing_key: str, failure_event: EventPayload | None = None,
                        event_id: uuid.UUID | None = None) -> None:
        """Record stage.failed (and any stage-specific failure event) with the inbox row, in one transaction."""
        if job_id is None:
            log.error("dropping a failure with no job id: %s", reason)
            return
        dataset_id = getattr(envelope.payload, "dataset_id", None) if envelope else None
        if isinstance(dataset_id, uuid.UUID) and await self._tombstoned(dataset_id):
            # the dataset was erased here meanwhile: a failure would only carry its id back into the outbox
            if event_id is not None:
                async with self.pool.connection() as conn:
                    await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (%s, %s, %s)"
                                       " ON CONFLICT DO NOTHING", (self.consumer_name, event_id, routing_key))
            return
        failed = StageFailed(stage=cast(Stage, self.service), code=code, reason=reason, failed_event_id=event_id,
                             failed_routing_key=routing_key, attempts=attempts, dataset_id=dataset_id)
        async with self.pool.connection() as conn, conn.transaction():
            if event_id is not None:
                await conn.execute(
                    "INSERT INTO inbox (consumer, event_id, routing_key) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (self.consumer_name, event_id, routing_key),
                )
            uow = PostgresUnitOfWork(conn=conn, job_id=job_id, producer=self.service)
            if failure_event is not None:
                await uow.emit(failure_event)
            await uow.emit(failed)
        if self.relay is not None:
            self.relay.notify()

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = dict(delivery.headers)
        headers["x-dsp-dead-letter-reason"] = reason[:1000]
        headers[ORIGINAL_ROUTING_KEY] = delivery.routing_key
        await self.publisher.send_to_queue(
            self.topology.dead_letter_queue(self.service), delivery.body,
            message_id=delivery.message_id or str(uuid.uuid4()), headers=headers,
        )
        DEAD_LETTERS.labels(self.service, reason.split(":")[0]).inc()

    @staticmethod
    def _job_id_of(body: bytes) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(json.loads(body)["job_id"]))
        except Exception:
            return None

    # -- the contract ----------------------------------------------------------------------
    async def process(self, delivery: Delivery, handler: DeliveryHandler) -> Outcome:
        """Handle one delivery. When this returns, the caller acks; when it raises (the outcome could not be
        recorded: the broker failed, or the database stayed away), the caller requeues the delivery."""
        started = time.perf_counter()
        outages = 0
        while True:
            try:
                outcome = await self._process(delivery, handler)
                break
            except Exception as exc:
                if not lost_database(exc) or outages >= self.max_outages:
                    raise
                outages += 1
                if not await self._database_answers():
                    log.warning("the database is unreachable; this delivery waits for it (outage %d of at most %d): "
                                "%s", outages, self.max_outages, describe_error(exc))
                    if not await self._wait_for_database():
                        raise
                log.info("a database connection was lost (%s); handling the delivery again", describe_error(exc))
        MESSAGES_CONSUMED.labels(self.service, delivery.routing_key, outcome.value).inc()
        MESSAGE_DURATION.labels(self.service, delivery.routing_key).observe(time.perf_counter() - started)
        return outcome

    async def _process(self, delivery: Delivery, handler: DeliveryHandler) -> Outcome:
        try:
            envelope = parse_envelope(delivery.body)
        except (UnknownEventError, ValidationError, ValueError, KeyError) as exc:
            job_id = self._job_id_of(delivery.body)
            problem = _describe_unreadable(exc)
            reason = (f"The {self.service} stage received a {delivery.routing_key or 'message'} event it could not "
                      f"read: {problem}")
            log.error(reason, extra={"fields": {"job_id": str(job_id) if job_id else None}})
            await self._dead_letter(delivery, "poison_message: " + reason)
            await self._fail_job(None, job_id, code="poison_message", reason=reason, attempts=1,
                                 routing_key=delivery.routing_key)
            return Outcome.DEAD_LETTERED

        token = bind_job(str(envelope.job_id))
        # the consumer span is aio-pika's instrumentation's, child of the context the message carries; a delivery
        # that comes without one (no instrumentation) still continues the trace of the event's producer
        span = trace.get_current_span()
        otel_token = None if span.get_span_context().is_valid else otel_context.attach(
            context_from(delivery.headers, envelope.trace))
        try:
            span.set_attributes({"dsp.job_id": str(envelope.job_id), "dsp.event": envelope.routing_key})
            outcome = await self._handle(delivery, envelope, handler)
            if outcome in (Outcome.FAILED, Outcome.DEAD_LETTERED):
                span.set_status(Status(StatusCode.ERROR, outcome.value))
            return outcome
        finally:
            if otel_token is not None:
                otel_context.detach(otel_token)
            unbind_job(token)

    async def _handle(self, delivery: Delivery, envelope: Envelope[Any], handler: DeliveryHandler) -> Outcome:
        # copies of one event in this process at once (a republished outbox row, a retry copy beside a
        # redelivery, with a prefetch above 1) are handled one after the other: the later finds the inbox row
        # and does nothing, instead of rewriting the first one's artifacts under their committed references
        lock, users = self._handling.get(envelope.event_id, (asyncio.Lock(), 0))
        self._handling[envelope.event_id] = (lock, users + 1)
        try:
            async with lock:
                return await self._handle_alone(delivery, envelope, handler)
        finally:
            lock, users = self._handling[envelope.event_id]
            if users == 1:
                del self._handling[envelope.event_id]
            else:
                self._handling[envelope.event_id] = (lock, users - 1)

    async def _handle_alone(self, delivery: Delivery, envelope: Envelope[Any], handler: DeliveryHandler) -> Outcome:
        if await self._seen(envelope.event_id):
            log.info("duplicate delivery ignored", extra={"fields": {"event_id": str(envelope.event_id)}})
            return Outcome.DUPLICATE
        if any([await self._tombstoned(erased) for erased in deletion.datasets_named_by(envelope.payload)]):
            log.info("event of an erased dataset discarded", extra={"fields": {"event_id": str(envelope.event_id)}})
            await self._discard(envelope)
            return Outcome.DISCARDED

        request = is_cancel_request(envelope)
        if self.cancels is not None and request:  # the control queue usually told this process already
            self.cancels.cancel(envelope.job_id, envelope.payload.reason, envelope.payload.requested_at)
        elif self.cancels is not None and (self.cancels.cancelled(envelope.job_id)
                                           or await self._cancelled(envelope.job_id)):
            log.info("event of a cancelled job dropped", extra={"fields": {"event_id": str(envelope.event_id)}})
            return await self._acknowledge_cancelled(envelope)

        attempts = delivery.retry_count + delivery.delivery_count + 1
        if delivery.delivery_count >= self.topology.delivery_limit - 1:
            reason = (f"The {self.service} stage stopped {delivery.delivery_count} times while handling this job "
                      "(for example killed or out of memory); giving up.")
            await self._dead_letter(delivery, "crash_loop: " + reason)
            await self._fail_job(envelope, envelope.job_id, code="crash_loop", reason=reason, attempts=attempts,
                                 routing_key=envelope.routing_key, event_id=envelope.event_id)
            return Outcome.DEAD_LETTERED

        cancels = self.cancels
        running = cancels.running(envelope.job_id) if cancels is not None and not request else nullcontext(
            never_cancelled())
        with running as cancel:
            deps: StageDeps[Any] = StageDeps(
                job_id=envelope.job_id, event_id=envelope.event_id, producer=envelope.producer,
                occurred_at=envelope.occurred_at, store=self.store,
                unit_of_work=lambda: guarded_unit_of_work(self._unit_of_work(envelope), cancel),
                progress=self._progress_sink(envelope), notify=self.notify, cancel=cancel,
            )
            try:
                await handler(envelope, deps)
            except AlreadyHandled:
                log.info("duplicate delivery: another copy of the event was recorded meanwhile",
                         extra={"fields": {"event_id": str(envelope.event_id)}})
                return Outcome.DUPLICATE
            except Cancelled as exc:
                known = (cancels.cancelled(envelope.job_id) if cancels is not None else None) or \
                    await self._cancelled(envelope.job_id)
                log.info("stopped: the job was cancelled", extra={"fields": {"step": exc.step}})
                return await self._acknowledge_cancelled(
                    envelope, step=exc.step, requested_at=known.requested_at if known is not None else None)
            except StageError as exc:
                log.warning("stage failed: %s", exc.message, extra={"fields": {"code": exc.code}})
                await self._fail_job(envelope, envelope.job_id, code=exc.code, reason=exc.message,
                                     attempts=attempts, routing_key=envelope.routing_key,
                                     failure_event=exc.failure_event, event_id=envelope.event_id)
                return Outcome.FAILED
            except Exception as exc:
                if cancel.cancelled:  # a library that wrapped the interruption in an error of its own
                    log.info("stopped: the job was cancelled (%s)", describe_error(exc))
                    known = cancels.cancelled(envelope.job_id) if cancels is not None else None
                    return await self._acknowledge_cancelled(
                        envelope, step="interrupted", requested_at=known.requested_at if known else None)
                if lost_database(exc):  # not the job's fault: process() waits for the database, then again
                    raise
                return await self._retry_or_give_up(delivery, envelope, exc)
        log.info("handled %s", envelope.routing_key)
        return Outcome.HANDLED

    async def _retry_or_give_up(self, delivery: Delivery, envelope: Envelope[Any], exc: Exception) -> Outcome:
        retry = delivery.retry_count
        delays = self.topology.retry_delays_ms
        if retry < len(delays):
            log.warning("handler raised, retrying in %d ms (retry %d of %d): %r", delays[retry], retry + 1,
                        len(delays), exc, exc_info=True)
            headers = {k: v for k, v in delivery.headers.items() if k != "x-delivery-count"}
            headers["x-retry-count"] = retry + 1
            headers["x-dsp-last-error"] = repr(exc)[:1000]
            headers[ORIGINAL_ROUTING_KEY] = delivery.routing_key
            await self.publisher.send_to_queue(
                self.topology.retry_queue(self.service, delays[retry]), delivery.body,
                message_id=str(envelope.event_id), headers=headers,
            )
            return Outcome.RETRIED
        log.error("handler failed after %d retries: %r", retry, exc, exc_info=exc)
        reason = retries_exhausted(self.service, retry + 1, describe_error(exc))
        # the operator's copy names the error itself; the user's reason does not
        await self._dead_letter(delivery, f"retries_exhausted: {reason} Last error: {describe_error(exc)}")
        await self._fail_job(envelope, envelope.job_id, code="retries_exhausted", reason=reason,
                             attempts=retry + 1, routing_key=envelope.routing_key, event_id=envelope.event_id)
        return Outcome.DEAD_LETTERED
