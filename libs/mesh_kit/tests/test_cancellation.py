"""Cancelling a job in the in-process mesh: the running use case's token is cancelled at once (from another
thread, as the ``dsp`` command's Ctrl-C does), it stops with ``job.cancelled`` and nothing committed, and the
job's later events are dropped with ``job.cancelled``."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from mesh_kit.cancellation import CancelRegistry, cancel_subscription
from mesh_kit.memory import InMemoryArtifactStore, InMemoryMesh
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.events import (
    DatasetRejected,
    DatasetUploaded,
    JobCancelled,
    JobCancelRequested,
    StageFailed,
)
from shared_contracts.manifest import SERVICES


@dataclass
class Seen:
    events: list[uuid.UUID] = field(default_factory=list)


def _uploaded() -> DatasetUploaded:
    ref = ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    return DatasetUploaded(dataset_id=uuid.uuid4(), raw=ref, display_name="x.csv")


async def _slow_ingest(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
    """Works 30 s unless cancelled, in a worker thread as a stage core does; then records its result."""
    started = time.monotonic()
    await asyncio.to_thread(deps.cancel.wait, 30.0)
    WAITED.append(time.monotonic() - started)
    deps.cancel.check("fitting")
    async with deps.unit_of_work() as uow:
        uow.repo.events.append(deps.event_id)
        await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="m"))


async def _cancelled_while_recording(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
    """The cancellation lands while the use case is inside its unit of work: the unit does not commit."""
    async with deps.unit_of_work() as uow:
        uow.repo.events.append(deps.event_id)  # the in-memory repository is live: a real one would roll back
        await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="m"))
        MESHES[-1].cancel(deps.job_id)


WAITED: list[float] = []
MESHES: list[InMemoryMesh] = []


def _mesh(handler=_slow_ingest) -> InMemoryMesh:
    spec = ServiceSpec(manifest=SERVICES["ingest"], memory_repository=Seen,
                       subscriptions=[Subscription(DatasetUploaded, handler), cancel_subscription()])
    WAITED.clear()
    MESHES.append(InMemoryMesh([spec], InMemoryArtifactStore()))
    return MESHES[-1]


def test_the_registry_cancels_running_tokens_and_those_made_later() -> None:
    registry, job = CancelRegistry(), uuid.uuid4()
    with registry.running(job) as token:
        assert registry.running_jobs() == [job] and not token.cancelled
        assert registry.cancel(job, "asked") == 1
        assert token.cancelled and token.reason == "asked"
    assert registry.running_jobs() == []
    with registry.running(job) as later:
        assert later.cancelled
    with registry.running(uuid.uuid4()) as other:
        assert not other.cancelled


async def test_cancel_from_another_thread_stops_the_running_stage_with_job_cancelled() -> None:
    mesh, job = _mesh(), uuid.uuid4()
    mesh.publish(_uploaded(), job_id=job)
    timer = threading.Timer(0.3, mesh.cancel, args=(job, "Ctrl-C"))
    timer.start()
    started = time.monotonic()
    delivered = await mesh.drain()
    assert time.monotonic() - started < 5
    kinds = [type(e.payload) for e in delivered]
    assert kinds == [DatasetUploaded, JobCancelled]  # no stage.failed, no result event
    ack = delivered[1].payload
    assert ack.stage == "ingest" and ack.step == "fitting" and ack.dataset_id == delivered[0].payload.dataset_id
    assert ack.stopped_after_s is not None and ack.stopped_after_s < 1.0
    assert mesh.repositories["ingest"].events == [] and len(WAITED) == 1 and WAITED[0] < 1.5  # nothing recorded
    assert ("ingest", delivered[0].event_id) in mesh._inbox  # handled: a redelivery changes nothing
    mesh.redeliver(delivered[0])
    assert [type(e.payload) for e in await mesh.drain()] == [DatasetUploaded]


async def test_later_events_of_a_cancelled_job_are_dropped_with_job_cancelled() -> None:
    mesh, job = _mesh(), uuid.uuid4()
    mesh.publish(JobCancelRequested(requested_at=datetime.now(UTC), reason="asked"), job_id=job)
    mesh.publish(_uploaded(), job_id=job)
    other = mesh.publish(_uploaded(), job_id=uuid.uuid4())
    mesh.cancel(other.job_id)  # a job cancelled before its event starts never runs
    delivered = await mesh.drain()
    assert [type(e.payload) for e in delivered] == [JobCancelRequested, DatasetUploaded, DatasetUploaded,
                                                    JobCancelled, JobCancelled]
    assert {e.job_id for e in delivered[3:]} == {job, other.job_id}
    assert all(e.payload.step == "" for e in delivered[3:])
    assert WAITED == []
    assert not any(isinstance(e.payload, StageFailed) for e in delivered)


async def test_a_unit_of_work_whose_job_is_cancelled_meanwhile_queues_nothing() -> None:
    mesh = _mesh(_cancelled_while_recording)
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    delivered = await mesh.drain()
    assert [type(e.payload) for e in delivered] == [DatasetUploaded, JobCancelled]  # not DatasetRejected
    assert delivered[1].payload.step == "recording the results"


# -- the local bus (dsp serve), over real SQLite files ------------------------------------------------------

async def test_the_local_bus_cancels_a_busy_stage_at_once_and_drops_the_jobs_later_events(tmp_path) -> None:
    from mesh_kit.local_bus import LocalBus
    from mesh_kit.sqlite import SqliteDatabase, database_path

    stopped: list[float] = []
    calls: list[uuid.UUID] = []

    async def work(event: DatasetUploaded, deps: StageDeps[Any]) -> None:
        calls.append(deps.event_id)
        await asyncio.to_thread(deps.cancel.wait, 30.0)
        stopped.append(time.monotonic())
        deps.cancel.check("fitting")
        async with deps.unit_of_work() as uow:
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="finished"))

    spec = ServiceSpec(manifest=SERVICES["ingest"], subscriptions=[Subscription(DatasetUploaded, work),
                                                                   cancel_subscription()])
    databases = {}
    for name in ("gateway", "ingest"):
        databases[name] = SqliteDatabase(database_path(tmp_path, name))
        await databases[name].open()
        await databases[name].migrate(None)
    seen: list[Envelope[Any]] = []
    bus = LocalBus([spec], databases, InMemoryArtifactStore(), on_event=seen.append, poll_s=0.1)
    await bus.start()
    try:
        job, dataset = uuid.uuid4(), uuid.uuid4()
        upload = _uploaded()
        await bus.publish(upload.model_copy(update={"dataset_id": dataset}), job_id=job)
        while not calls:
            await asyncio.sleep(0.02)
        requested = time.monotonic()
        await bus.publish(JobCancelRequested(requested_at=datetime.now(UTC), reason="asked"), job_id=job)
        await bus.idle(10)
        assert stopped and stopped[0] - requested < 1.0
        print(f"local bus: the running job's token was cancelled {(stopped[0] - requested) * 1000:.0f} ms "
              "after the request")
        later = await bus.publish(_uploaded(), job_id=job)  # the durable record drops it
        await bus.idle(10)
        acks = [e for e in seen if isinstance(e.payload, JobCancelled)]
        assert [(a.payload.stage, a.payload.step) for a in acks] == [("ingest", "fitting"), ("ingest", "")]
        assert len(calls) == 1
        assert not any(isinstance(e.payload, DatasetRejected | StageFailed) for e in seen)
        row = await databases["ingest"].fetchone("SELECT reason FROM cancelled_jobs WHERE job_id = ?", (job,))
        assert row is not None and row[0] == "asked"
        assert await databases["ingest"].fetchone("SELECT 1 FROM inbox WHERE event_id = ?", (later.event_id,))
    finally:
        await bus.stop()
        for db in databases.values():
            await db.close()


async def test_an_error_raised_by_a_library_once_the_job_is_cancelled_is_a_cancellation_not_a_failure() -> None:
    async def wrapped(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        MESHES[-1].cancel(deps.job_id)
        raise RuntimeError("the fit was interrupted")  # as a library that catches the interruption may do

    mesh = _mesh(wrapped)
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    delivered = await mesh.drain()  # nothing propagates: there is nothing to retry
    assert [type(e.payload) for e in delivered] == [DatasetUploaded, JobCancelled]
    assert delivered[1].payload.step == "interrupted"


async def test_an_error_of_a_job_not_cancelled_still_propagates() -> None:
    async def broken(event: DatasetUploaded, deps: StageDeps[Seen]) -> None:
        raise RuntimeError("a bug")

    mesh = _mesh(broken)
    mesh.publish(_uploaded(), job_id=uuid.uuid4())
    with pytest.raises(RuntimeError):
        await mesh.drain()
