"""The mesh in one process, durably: each service's SQLite outbox delivered to the others' use cases.

``dsp serve`` runs every service in one process. Each service keeps its own SQLite database
(``mesh_kit.sqlite``); a use case's unit of work commits its inbox row, its records and its
outgoing events there together. ``LocalBus`` is the broker between them:

- a pump reads every database's undelivered outbox rows in order and hands each event to every
  service that subscribes to it (``ServiceSpec.handlers_for``), through one worker per service, so
  a service sees its events in order and a slow stage never blocks the HTTP API or the others;
- the delivery itself is ``mesh_kit.delivery.deliver``, the contract of the in-memory mesh and of
  the Postgres runner: inbox dedup, erased datasets discarded, a ``StageError`` ends the job with
  ``stage.failed`` and the stage's own failure event;
- an outbox row is marked delivered only after every subscriber committed (or gave up), so after a
  crash or a restart the events not yet delivered are delivered again and a job resumes from its
  last committed stage; the inbox makes the repeats harmless;
- every start of a delivery is counted in the subscriber's database (``bus_attempts``) before the
  use case runs, so an event that keeps raising, or keeps stopping the server, ends its job with
  ``stage.failed`` and a plain reason after ``max_attempts`` starts rather than looping;
- progress reports (``job.progress``) are handed straight to their subscribers (the gateway's read
  model, whose use case tells the job's WebSocket through ``notify``): they are informational and
  are not kept in an outbox;
- a ``job.cancel_requested`` cancels the job's running use cases as soon as the pump reads it (a stage's
  worker may be busy with that very job, and sees its queue only afterwards); each stage then records it
  in its ``cancelled_jobs`` and drops the job's later events with ``job.cancelled`` (``mesh_kit.cancellation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from shared_contracts import Envelope, EventPayload, parse_envelope

from .artifacts import ArtifactStore, AsyncArtifactStore
from .cancellation import CancelledJob, CancelRegistry, is_cancel_request, subscribes_to_cancel
from .delivery import Mailbox, deliver, describe_error, give_up, progress_sink, retries_exhausted
from .ports import AlreadyHandled, Notify, ServiceSpec, no_notify
from .sqlite import SqliteConnection, SqliteDatabase, SqliteUnitOfWork, cancelled_job, is_tombstoned

__all__ = ["LocalBus"]

log = logging.getLogger(__name__)

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


async def _record_inbox(conn: SqliteConnection, consumer: str, envelope: Envelope[Any]) -> bool:
    """The event's inbox row, in the caller's transaction; False if it was there."""
    inserted = await conn.execute("INSERT INTO inbox (consumer, event_id, routing_key) VALUES (?, ?, ?)"
                                  " ON CONFLICT DO NOTHING", (consumer, envelope.event_id, envelope.routing_key))
    return inserted.rowcount > 0


class _SqliteMailbox(Mailbox):
    """A service's inbox and tombstones in its SQLite database."""

    def __init__(self, spec: ServiceSpec, db: SqliteDatabase) -> None:
        self.spec, self.db = spec, db

    async def seen(self, event_id: uuid.UUID) -> bool:
        return await self.db.fetchone("SELECT 1 FROM inbox WHERE consumer = ? AND event_id = ?",
                                      (self.spec.name, event_id)) is not None

    async def tombstoned(self, dataset_id: uuid.UUID) -> bool:
        async with self.db.read() as conn:
            return await is_tombstoned(conn, dataset_id)

    async def discard(self, envelope: Envelope[Any]) -> None:
        async with self.db.transaction() as conn:
            await _record_inbox(conn, self.spec.name, envelope)

    @asynccontextmanager
    async def unit_of_work(self, envelope: Envelope[Any]) -> AsyncIterator[SqliteUnitOfWork]:
        async with self.db.transaction() as conn:
            if not await _record_inbox(conn, self.spec.name, envelope):
                raise AlreadyHandled(str(envelope.event_id))
            yield SqliteUnitOfWork(conn=conn, job_id=envelope.job_id, producer=self.spec.name,
                                   repo=self.spec.sqlite_repository(conn))

    async def fail(self, envelope: Envelope[Any] | None, job_id: uuid.UUID, events: Sequence[EventPayload]) -> None:
        async with self.db.transaction() as conn:
            if envelope is not None:
                await _record_inbox(conn, self.spec.name, envelope)
            uow = SqliteUnitOfWork(conn=conn, job_id=job_id, producer=self.spec.name)
            for event in events:
                await uow.emit(event)

    async def cancelled(self, job_id: uuid.UUID) -> CancelledJob | None:
        async with self.db.read() as conn:
            known = await cancelled_job(conn, job_id)
        return None if known is None else CancelledJob(*known)

    # -- the count of delivery starts, kept across restarts -------------------------------------------
    async def begin_attempt(self, envelope: Envelope[Any]) -> tuple[int, str | None]:
        async with self.db.transaction() as conn:
            row = (await conn.execute(
                "INSERT INTO bus_attempts (consumer, event_id, attempts) VALUES (?, ?, 1)"
                " ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = attempts + 1"
                " RETURNING attempts, last_error", (self.spec.name, envelope.event_id))).fetchone()
        assert row is not None
        return int(row[0]), row[1]

    async def end_attempt(self, envelope: Envelope[Any], *, error: str | None = None, undo: bool = False) -> None:
        async with self.db.transaction() as conn:
            if undo:  # stopped on purpose (Ctrl-C): not the event's fault
                await conn.execute("UPDATE bus_attempts SET attempts = attempts - 1 WHERE consumer = ? AND event_id = ?",
                                   (self.spec.name, envelope.event_id))
            else:
                await conn.execute("UPDATE bus_attempts SET last_error = ? WHERE consumer = ? AND event_id = ?",
                                   (error, self.spec.name, envelope.event_id))


@dataclass(eq=False)
class _Pending:
    """An outbox row on its way: the subscribers that have not finished with it yet."""

    producer: str
    row_id: int
    waiting: set[str] = field(default_factory=set)


class LocalBus:
    """Delivers the services' SQLite outboxes to their subscribers, in the background.

    Parameters
    ----------
    services
        The services, as their bootstraps describe them; each needs a database in ``databases``.
    databases
        Each service's open and migrated database, by service name.
    store
        The artifact store every service shares.
    notify
        What the gateway's use case tells the listeners of a job (its WebSocket) goes here.
    max_attempts
        How many times a delivery may start (an exception, or the server stopped while it ran)
        before its job is failed.
    retry_delay_s
        The pause before the n-th retry of an event that raised is n times this.
    on_event
        Called with every envelope as it is handed to its subscribers (tests, logs).
    """

    def __init__(self, services: Sequence[ServiceSpec], databases: Mapping[str, SqliteDatabase],
                 store: ArtifactStore | AsyncArtifactStore, *, notify: Notify = no_notify, max_attempts: int = 3,
                 retry_delay_s: float = 1.0, poll_s: float = 1.0,
                 on_event: Callable[[Envelope[Any]], None] | None = None) -> None:
        missing = [spec.name for spec in services if spec.name not in databases]
        if missing:
            raise ValueError(f"no database for {missing}")
        self.specs = {spec.name: spec for spec in services}
        self.databases = dict(databases)
        self.store = store if isinstance(store, AsyncArtifactStore) else AsyncArtifactStore(store)
        self.notify = notify
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.poll_s = poll_s
        self.on_event = on_event
        self.mailboxes = {name: _SqliteMailbox(spec, self.databases[name]) for name, spec in self.specs.items()}
        self._queues: dict[str, asyncio.Queue[tuple[_Pending, Envelope[Any]]]] = {}
        self._cursor: dict[str, int] = {name: 0 for name in self.databases}
        self._in_flight: set[_Pending] = set()
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.cancels = CancelRegistry()
        """The jobs cancelled while this bus runs, and the tokens of the deliveries under way."""

    # -- life ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the pump and the workers; what was left undelivered by a previous run goes first."""
        self._wakeup = asyncio.Event()
        for db in self.databases.values():
            async with db.transaction() as conn:  # the counts of events since handled are of no more use
                await conn.execute("DELETE FROM bus_attempts WHERE EXISTS (SELECT 1 FROM inbox WHERE"
                                   " inbox.consumer = bus_attempts.consumer AND inbox.event_id = bus_attempts.event_id)")
            db.on_commit(self.wake)
        for name, spec in self.specs.items():
            if spec.subscriptions:
                self._queues[name] = asyncio.Queue()
                self._tasks.append(asyncio.create_task(self._work(name), name=f"bus-{name}"))
        self._tasks.append(asyncio.create_task(self._pump(), name="bus-pump"))

    async def stop(self) -> None:
        """Stop delivering; a delivery cut short is delivered again at the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def wake(self) -> None:
        """Look at the outboxes now (every commit calls it)."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def idle(self, timeout_s: float = 60.0) -> None:
        """Wait until every outbox is delivered (for tests and one-shot runs)."""
        async with asyncio.timeout(timeout_s):
            while True:
                if not self._in_flight and not await self._pending_rows():
                    await asyncio.sleep(0.05)  # a commit of a moment ago may still wake the pump
                    if not self._in_flight and not await self._pending_rows():
                        return
                await asyncio.sleep(0.05)

    async def _pending_rows(self) -> int:
        total = 0
        for db in self.databases.values():
            row = await db.fetchone("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
            total += int(row[0]) if row else 0
        return total

    # -- for the routes --------------------------------------------------------------------------------
    @asynccontextmanager
    async def unit_of_work(self, service: str, *, job_id: uuid.UUID) -> AsyncIterator[SqliteUnitOfWork]:
        """A unit of work of ``service`` outside any delivery (an HTTP route's); its events go when it commits."""
        spec = self.specs.get(service)
        async with self.databases[service].transaction() as conn:
            yield SqliteUnitOfWork(conn=conn, job_id=job_id, producer=service,
                                   repo=spec.sqlite_repository(conn) if spec is not None else None)

    async def publish(self, payload: EventPayload, *, job_id: uuid.UUID, producer: str = "gateway") -> Envelope[Any]:
        """Put one event in ``producer``'s outbox, as a route of it would."""
        async with self.unit_of_work(producer, job_id=job_id) as uow:
            return await uow.emit(payload)

    # -- the pump ----------------------------------------------------------------------------------------
    async def _pump(self) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            found = 0
            for producer, db in self.databases.items():
                try:
                    rows = await db.fetchall("SELECT id, body FROM outbox WHERE delivered_at IS NULL AND id > ?"
                                             " ORDER BY id LIMIT 100", (self._cursor[producer],))
                    for row in rows:
                        await self._dispatch(producer, int(row["id"]), row["body"])
                        self._cursor[producer] = int(row["id"])
                        found += 1
                except Exception:  # the storage failed: read again from the same row after a pause
                    log.exception("delivering the outbox of %s failed", producer)
                    await asyncio.sleep(self.retry_delay_s)
            if found:
                continue
            with contextlib.suppress(TimeoutError):  # not wait_for, which can swallow a cancellation in 3.11
                async with asyncio.timeout(self.poll_s):
                    await self._wakeup.wait()

    async def _dispatch(self, producer: str, row_id: int, body: str) -> None:
        try:
            envelope = parse_envelope(body.encode())
        except Exception:  # written by this process's own services: a bug, not input
            log.exception("an unreadable event in the outbox of %s (row %d) is skipped", producer, row_id)
            await self._mark_delivered(producer, row_id)
            return
        if self.on_event is not None:
            self.on_event(envelope)
        if is_cancel_request(envelope):  # now, not when each stage's worker is free to read it
            self.cancels.cancel(envelope.job_id, envelope.payload.reason, envelope.payload.requested_at)
        subscribers = {name for name, spec in self.specs.items()
                       if name in self._queues and spec.handlers_for(envelope.payload)}
        if not subscribers:
            await self._mark_delivered(producer, row_id)
            return
        pending = _Pending(producer, row_id, subscribers)
        self._in_flight.add(pending)
        for name in sorted(subscribers):
            self._queues[name].put_nowait((pending, envelope))

    async def _mark_delivered(self, producer: str, row_id: int) -> None:
        async with self.databases[producer].transaction() as conn:
            await conn.execute(f"UPDATE outbox SET delivered_at = {_NOW} WHERE id = ?", (row_id,))

    # -- the workers ---------------------------------------------------------------------------------------
    async def _work(self, name: str) -> None:
        queue = self._queues[name]
        while True:
            pending, envelope = await queue.get()
            try:
                await self._deliver(name, envelope)
                if pending.waiting == {name}:
                    await self._mark_delivered(pending.producer, pending.row_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the bus's own storage failed: try again after a pause (the inbox dedups)
                log.exception("delivering %s to %s failed; trying again", envelope.routing_key, name)
                await asyncio.sleep(5 * self.retry_delay_s)
                queue.put_nowait((pending, envelope))
                continue
            pending.waiting.discard(name)
            if not pending.waiting:
                self._in_flight.discard(pending)

    async def _deliver(self, name: str, envelope: Envelope[Any]) -> None:
        spec, mailbox = self.specs[name], self.mailboxes[name]
        for handler in spec.handlers_for(envelope.payload):
            while True:
                if await mailbox.seen(envelope.event_id):
                    break
                attempts, last_error = await mailbox.begin_attempt(envelope)
                if attempts > self.max_attempts:
                    await self._give_up(name, envelope, attempts - 1, last_error)
                    break
                try:
                    await deliver(name, mailbox, handler, envelope, store=self.store,
                                  progress=progress_sink(name, envelope.job_id, self._send_progress,
                                                         trace=envelope.trace),
                                  notify=self.notify, attempts=attempts,
                                  cancels=self.cancels if subscribes_to_cancel(spec) else None)
                    break
                except asyncio.CancelledError:
                    await asyncio.shield(mailbox.end_attempt(envelope, undo=True))
                    raise
                except Exception as exc:
                    error = describe_error(exc)
                    log.warning("%s raised on %s (attempt %d of %d): %s", name, envelope.routing_key, attempts,
                                self.max_attempts, error, exc_info=True)
                    await mailbox.end_attempt(envelope, error=error)
                    if attempts >= self.max_attempts:
                        await self._give_up(name, envelope, attempts, error)
                        break
                    await asyncio.sleep(self.retry_delay_s * attempts)

    async def _give_up(self, name: str, envelope: Envelope[Any], attempts: int, last_error: str | None) -> None:
        if last_error is None:  # every start ended with the process
            code = "interrupted"
            times = "once" if attempts == 1 else f"{attempts} times"
            reason = (f"The server stopped during {name} {times} while it worked on this job; "
                      "start the analysis again.")
        else:
            code = "retries_exhausted"
            reason = retries_exhausted(name, attempts, last_error)
        log.error("giving up %s in %s: %s", envelope.routing_key, name, reason)
        await give_up(name, self.mailboxes[name], envelope, code=code, reason=reason, attempts=attempts)

    async def _send_progress(self, envelope: Envelope[Any]) -> None:
        if self.on_event is not None:
            self.on_event(envelope)
        for name, spec in self.specs.items():
            for handler in spec.handlers_for(envelope.payload):
                try:
                    await deliver(name, self.mailboxes[name], handler, envelope, store=self.store,
                                  progress=_no_progress, notify=self.notify)
                except Exception:  # progress is informational; losing one is harmless
                    log.warning("progress of job %s not recorded in %s", envelope.job_id, name, exc_info=True)


def _no_progress(fraction: float, message: str = "") -> None:
    """Progress of handling a progress report goes nowhere."""
