"""The ports every stage handler sees, and the description of a service.

A handler is a typed use case: ``async def when_x_do_y(event: X, deps: StageDeps[Repo]) -> None``.
It reads and writes artifacts through ``deps.store``, reports progress through ``deps.progress``
and, in one ``async with deps.unit_of_work() as uow`` block, records its results through
``uow.repo`` and queues its output events with ``uow.emit``. It never sees a broker, a database
connection or a web framework, so the same function runs:

- in a service, where ``mesh_kit.service`` backs the ports with Postgres, RabbitMQ and the
  configured artifact store, under the delivery contract of ``mesh_kit.consumer``;
- in the ``dsp`` command and in tests, where ``mesh_kit.memory.InMemoryMesh`` backs them with
  in-memory repositories, an in-process queue and a local artifact store.

This module imports no adapter: it is cheap to import and safe in a domain-free test.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared_contracts import Envelope, EventPayload
from shared_contracts.cancel import CancelToken, never_cancelled
from shared_contracts.errors import StageError
from shared_contracts.manifest import ServiceManifest
from shared_contracts.progress import ProgressFn

from .artifacts import AsyncArtifactStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .service import Runtime

__all__ = [
    "AlreadyHandled",
    "Handler",
    "Notify",
    "ServiceSpec",
    "StageDeps",
    "StageError",
    "Subscription",
    "UnitOfWork",
    "no_notify",
]

R = TypeVar("R")
E = TypeVar("E", bound=EventPayload)


class AlreadyHandled(Exception):
    """Another delivery of this event committed first."""


class UnitOfWork(abc.ABC, Generic[R]):
    """One transaction: the inbox row, the stage's results (through ``repo``) and its outgoing events."""

    repo: R

    @abc.abstractmethod
    async def emit(self, payload: EventPayload) -> Envelope[Any]:
        """Queue an event of this job for publication after commit."""

    @abc.abstractmethod
    async def is_deleted(self, dataset_id: uuid.UUID) -> bool:
        """Whether the dataset was erased here. Waits for a deletion of it that is under way, so a use case
        that checks this before recording its results cannot bring a deleted dataset back."""

    @abc.abstractmethod
    async def tombstone(self, dataset_id: uuid.UUID) -> bool:
        """Remember (by its hash only) that the dataset is erased; True the first time."""

    @abc.abstractmethod
    async def purge_outbox(self, dataset_id: uuid.UUID) -> int:
        """Delete the outbox rows whose event names the dataset; returns how many."""

    @abc.abstractmethod
    async def cancel_job(self, job_id: uuid.UUID, *, requested_at: datetime, reason: str = "") -> None:
        """Record that the job is cancelled in this service, so its later events are dropped here."""


Notify = Callable[[uuid.UUID, dict[str, Any]], Awaitable[None]]
"""Tell the listeners of a job (the WebSocket) something; only the gateway uses it."""


async def no_notify(job_id: uuid.UUID, message: dict[str, Any]) -> None:
    """A notifier for services that have no listeners."""


@dataclass(frozen=True)
class StageDeps(Generic[R]):
    """What a handler gets besides its event: the job it works for and its ports."""

    job_id: uuid.UUID
    event_id: uuid.UUID
    producer: str
    occurred_at: datetime
    store: AsyncArtifactStore
    unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork[R]]]
    progress: ProgressFn
    notify: Notify = no_notify
    cancel: CancelToken = field(default_factory=never_cancelled)
    """Cancelled when the job is: the use case passes it to its core, which checks it between steps."""


Handler = Callable[[Any, StageDeps[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """One event class a service consumes and the use case that reacts to it.

    ``event=EventPayload`` subscribes to every event (the gateway's read model).
    """

    event: type[E]
    handler: Callable[[E, StageDeps[Any]], Awaitable[None]]

    def matches(self, payload: EventPayload) -> bool:
        return isinstance(payload, self.event)


def _no_repository(conn: Any) -> None:
    return None


@dataclass(frozen=True)
class ServiceSpec:
    """A service as its bootstrap describes it: its manifest entry, its use cases and their adapters.

    The manifest (``shared_contracts.manifest``) names the service, its port and the events it
    consumes and publishes; ``subscriptions`` pairs each consumed event with its use case.
    ``repository`` builds the service's repository over a Postgres connection inside a unit of
    work; ``memory_repository`` builds the in-memory one that the in-process mesh keeps for the
    life of a run; ``sqlite_repository`` builds it over the service's SQLite connection inside a unit
    of work of the local bus (``mesh_kit.local_bus``, ``dsp serve``).
    """

    manifest: ServiceManifest
    subscriptions: Sequence[Subscription[Any]] = ()
    repository: Callable[[Any], Any] = _no_repository
    memory_repository: Callable[[], Any] = field(default=lambda: None)
    sqlite_repository: Callable[[Any], Any] = _no_repository
    routes: Callable[[FastAPI], None] | None = None
    on_startup: Callable[[Runtime], Awaitable[None]] | None = None
    on_shutdown: Callable[[Runtime], Awaitable[None]] | None = None
    ready_checks: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    warm_up: Callable[[], None] | None = None
    """Run once in a worker thread after the consumer is attached: imports or loads what the use cases need, so
    that a restarted worker takes deliveries at once and the first job does not pay for the loading on top of its
    own work. Readiness does not wait for it; a failure is logged, and the use cases load what they need anyway."""
    degradable: frozenset[str] = frozenset()
    """Readiness checks (``postgres``, ``rabbitmq``, or a ready check's name without ``check_``) whose failure
    leaves the service serving, degraded: readiness still answers 200, naming them in ``degraded``."""
    http_workers: bool = False
    """Whether the service may run ``DSP_HTTP_WORKERS`` > 1 uvicorn worker processes. Each worker is a whole
    replica (its pool, relay, consumer and listeners), which the delivery core makes safe; only a service whose
    load is HTTP wants that, as a stage's worker would hold its own jobs and memory (a stage scales by replicas)."""

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def package(self) -> str:
        return self.manifest.package

    @property
    def description(self) -> str:
        return self.manifest.description

    @property
    def emits(self) -> Sequence[type[EventPayload]]:
        return self.manifest.publishes

    def handlers_for(self, payload: EventPayload) -> list[Callable[[Any, StageDeps[Any]], Awaitable[None]]]:
        """The use cases this service runs for one event (none if it does not consume it)."""
        return [sub.handler for sub in self.subscriptions if sub.matches(payload)]
