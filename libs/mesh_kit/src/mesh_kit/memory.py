"""The mesh in one process: the services' own use cases over in-memory adapters.

``InMemoryMesh`` takes the same ``ServiceSpec`` objects the services boot from. Publishing an
event queues it; ``drain`` delivers queued events, in order, to every use case that subscribes
to them, exactly as the broker would, until nothing is left. Each service gets its in-memory
repository for the life of the mesh, an inbox (a repeated event changes nothing) and a unit of
work whose events are queued only when its block ends without an error. A ``StageError`` ends
the job with ``stage.failed`` (and the stage's own failure event), as in the services; any other
exception propagates, since there is no broker here to retry it.

``cancel(job_id)`` (from any thread: the ``dsp`` command's Ctrl-C) cancels the tokens of the job's
deliveries under way, and every later event of the job is dropped by the stages with ``job.cancelled``
(``mesh_kit.cancellation``); so does a ``job.cancel_requested`` published on the mesh.

The ``dsp`` command runs on it, and so do the handler unit tests.

Examples
--------
>>> import asyncio, tempfile
>>> from pathlib import Path
>>> from mesh_kit.artifacts import LocalArtifactStore
>>> mesh = InMemoryMesh([], LocalArtifactStore(Path(tempfile.mkdtemp())))
>>> asyncio.run(mesh.drain())
[]
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared_contracts import ArtifactRef, Envelope, EventPayload

from .artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFound,
    ArtifactStore,
    AsyncArtifactStore,
    check_key,
    check_prefix,
)
from .cancellation import CancelledJob, CancelRegistry, subscribes_to_cancel
from .deletion import dataset_sha256
from .delivery import Mailbox, deliver
from .ports import AlreadyHandled, Notify, ServiceSpec, UnitOfWork, no_notify

__all__ = ["InMemoryArtifactStore", "InMemoryMesh", "InMemoryUnitOfWork", "ProgressListener"]

ProgressListener = Callable[[str, float, str], None]
"""Called with the stage name, its fraction done and a message (possibly from a worker thread)."""


class InMemoryArtifactStore(ArtifactStore):
    """Artifacts as bytes in a dict: a store for tests that touches no disk outside their own files."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_file(self, key: str, path: Path, *, media_type: str) -> ArtifactRef:
        check_key(key)
        data = path.read_bytes()
        self.objects[key] = data
        return ArtifactRef(key=key, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                           media_type=media_type)

    def fetch_to(self, ref: ArtifactRef, path: Path) -> Path:
        if ref.key not in self.objects:
            raise ArtifactNotFound(ref.key)
        data = self.objects[ref.key]
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise ArtifactIntegrityError(f"artifact {ref.key} does not match its recorded hash")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix)
        keys = [key for key in self.objects if key.startswith(prefix)]
        for key in keys:
            del self.objects[key]
        return len(keys)


@dataclass
class InMemoryUnitOfWork(UnitOfWork[Any]):
    """A unit of work over an in-memory repository; ``emitted`` is published when the block ends."""

    repo: Any
    job_id: uuid.UUID
    producer: str
    emitted: list[Envelope[Any]] = field(default_factory=list)
    tombstones: set[str] = field(default_factory=set)
    """The hashes of the datasets erased in this service (shared by its units of work)."""
    cancels: CancelRegistry | None = None
    """The mesh's cancelled jobs, which ``cancel_job`` records (applied when the block ends)."""
    _cancelled: list[tuple[uuid.UUID, datetime, str]] = field(default_factory=list)

    async def emit(self, payload: EventPayload) -> Envelope[Any]:
        envelope = Envelope.wrap(payload, job_id=self.job_id, producer=self.producer)
        self.emitted.append(envelope)
        return envelope

    async def is_deleted(self, dataset_id: uuid.UUID) -> bool:
        return dataset_sha256(dataset_id) in self.tombstones

    async def tombstone(self, dataset_id: uuid.UUID) -> bool:
        digest = dataset_sha256(dataset_id)
        new = digest not in self.tombstones
        self.tombstones.add(digest)
        return new

    async def purge_outbox(self, dataset_id: uuid.UUID) -> int:
        """Nothing waits here: events are queued on the mesh when their unit of work ends."""
        return 0

    async def cancel_job(self, job_id: uuid.UUID, *, requested_at: datetime, reason: str = "") -> None:
        self._cancelled.append((job_id, requested_at, reason))

    def commit(self, queue: deque[Envelope[Any]]) -> None:
        """What the block recorded takes effect: its cancellations, then its events are queued."""
        if self.cancels is not None:
            for job_id, requested_at, reason in self._cancelled:
                self.cancels.cancel(job_id, reason, requested_at)
        queue.extend(self.emitted)


class _InMemoryMailbox(Mailbox):
    """A service's inbox and tombstones as the mesh keeps them; its events go on the mesh's queue."""

    def __init__(self, mesh: InMemoryMesh, spec: ServiceSpec) -> None:
        self.mesh, self.spec = mesh, spec

    async def seen(self, event_id: uuid.UUID) -> bool:
        return (self.spec.name, event_id) in self.mesh._inbox

    async def tombstoned(self, dataset_id: uuid.UUID) -> bool:
        return dataset_sha256(dataset_id) in self.mesh.tombstones[self.spec.name]

    async def discard(self, envelope: Envelope[Any]) -> None:
        self.mesh._inbox.add((self.spec.name, envelope.event_id))

    @asynccontextmanager
    async def unit_of_work(self, envelope: Envelope[Any]) -> AsyncIterator[InMemoryUnitOfWork]:
        name = self.spec.name
        if (name, envelope.event_id) in self.mesh._inbox:
            raise AlreadyHandled(str(envelope.event_id))
        uow = InMemoryUnitOfWork(repo=self.mesh.repositories[name], job_id=envelope.job_id, producer=name,
                                 tombstones=self.mesh.tombstones[name], cancels=self.mesh.cancels)
        yield uow
        self.mesh._inbox.add((name, envelope.event_id))
        uow.commit(self.mesh._queue)

    async def fail(self, envelope: Envelope[Any] | None, job_id: uuid.UUID, events: Sequence[EventPayload]) -> None:
        if envelope is not None:
            self.mesh._inbox.add((self.spec.name, envelope.event_id))
        self.mesh._queue.extend(Envelope.wrap(event, job_id=job_id, producer=self.spec.name) for event in events)

    async def cancelled(self, job_id: uuid.UUID) -> CancelledJob | None:
        return self.mesh.cancels.cancelled(job_id)


class InMemoryMesh:
    """Runs the given services' use cases over an in-process queue.

    Parameters
    ----------
    services
        The services to run, as their bootstraps describe them. An event no listed service
        consumes is delivered to nobody (it still reaches ``on_event``).
    store
        The artifact store every service shares.
    on_event
        Called with every envelope as it is delivered (the caller's view of the job).
    on_progress
        Called with each stage's progress reports.
    notify
        What the gateway's use case tells the listeners of a job (its WebSocket) goes here.
    """

    def __init__(self, services: Sequence[ServiceSpec], store: ArtifactStore, *,
                 on_event: Callable[[Envelope[Any]], None] | None = None,
                 on_progress: ProgressListener | None = None, notify: Notify = no_notify) -> None:
        self.services = list(services)
        self.store = AsyncArtifactStore(store)
        self.repositories: dict[str, Any] = {spec.name: spec.memory_repository() for spec in self.services}
        self.delivered: list[Envelope[Any]] = []
        self._queue: deque[Envelope[Any]] = deque()
        self._inbox: set[tuple[str, uuid.UUID]] = set()
        self.tombstones: dict[str, set[str]] = {spec.name: set() for spec in self.services}
        self._on_event = on_event
        self._on_progress = on_progress
        self._notify = notify
        self.cancels = CancelRegistry()
        """The jobs cancelled on this mesh and the tokens of the deliveries under way."""

    def cancel(self, job_id: uuid.UUID, reason: str = "") -> int:
        """Cancel a job, from any thread: the tokens of its deliveries under way are cancelled now, and the
        stages drop its later events with ``job.cancelled``; how many deliveries were under way."""
        return self.cancels.cancel(job_id, reason)

    def publish(self, payload: EventPayload, *, job_id: uuid.UUID, producer: str = "gateway") -> Envelope[Any]:
        """Queue an event, as the gateway would publish it."""
        envelope = Envelope.wrap(payload, job_id=job_id, producer=producer)
        self._queue.append(envelope)
        return envelope

    def redeliver(self, envelope: Envelope[Any]) -> None:
        """Queue an envelope again, as a broker redelivery would."""
        self._queue.append(envelope)

    async def drain(self) -> list[Envelope[Any]]:
        """Deliver queued events until none is left; returns every envelope delivered, in order."""
        delivered: list[Envelope[Any]] = []
        while self._queue:
            envelope = self._queue.popleft()
            delivered.append(envelope)
            self.delivered.append(envelope)
            if self._on_event is not None:
                self._on_event(envelope)
            for spec in self.services:
                for handler in spec.handlers_for(envelope.payload):
                    await self._deliver(spec, handler, envelope)
        return delivered

    async def _deliver(self, spec: ServiceSpec, handler: Any, envelope: Envelope[Any]) -> None:
        await deliver(spec.name, _InMemoryMailbox(self, spec), handler, envelope, store=self.store,
                      progress=self._progress_of(spec.name), notify=self._notify,
                      cancels=self.cancels if subscribes_to_cancel(spec) else None)

    @asynccontextmanager
    async def unit_of_work(self, service: str, *, job_id: uuid.UUID) -> AsyncIterator[InMemoryUnitOfWork]:
        """A unit of work of ``service`` outside any delivery, as an HTTP route opens one; its events are
        queued when the block ends."""
        uow = InMemoryUnitOfWork(repo=self.repositories[service], job_id=job_id, producer=service,
                                 tombstones=self.tombstones[service], cancels=self.cancels)
        yield uow
        uow.commit(self._queue)

    def _progress_of(self, stage: str) -> Callable[[float, str], None]:
        listener = self._on_progress

        def report(fraction: float, message: str = "") -> None:
            if listener is not None:
                listener(stage, max(0.0, min(1.0, fraction)), message)

        return report
