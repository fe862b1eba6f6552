"""Cancellation in a stage service on the real RabbitMQ and PostgreSQL (``mesh_kit.service``): a
``job.cancel_requested`` reaches the running job's token within a second although the service queue's one
delivery in flight is that very job (prefetch 1); the stage stops with ``job.cancelled``, its inbox row and
nothing else (no retry, no dead letter, no ``stage.failed``, no result); a later event of the job, at this
process or at one started after it, is dropped with ``job.cancelled``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import psycopg
import pytest
from mesh_kit.cancellation import cancel_subscription
from mesh_kit.db import role_name, with_user
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from mesh_kit.service import build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology
from shared_contracts import ArtifactRef, Envelope, parse_envelope
from shared_contracts.events import DatasetRejected, DatasetUploaded, JobCancelled, JobCancelRequested
from shared_contracts.manifest import SERVICES

from ..conftest import migrated_database

pytestmark = pytest.mark.integration


@dataclass
class Worker:
    """The test stage: works up to 30 s on each upload unless its job is cancelled, then records a result."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[uuid.UUID] = field(default_factory=list)
    stopped_at: list[float] = field(default_factory=list)

    async def work(self, event: DatasetUploaded, deps: StageDeps[Any]) -> None:
        self.calls.append(deps.event_id)
        self.started.set()
        await asyncio.to_thread(deps.cancel.wait, 30.0)
        self.stopped_at.append(time.monotonic())
        deps.cancel.check("fitting")
        async with deps.unit_of_work() as uow:
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="finished"))

    def spec(self) -> ServiceSpec:
        return ServiceSpec(manifest=SERVICES["ingest"],
                           subscriptions=[Subscription(DatasetUploaded, self.work), cancel_subscription()])


@pytest.fixture(scope="module")
def ingest_database(infra) -> Iterator[str]:
    with migrated_database(infra, "kcancel", service="ingest") as url:
        yield url


@dataclass
class Mesh:
    settings: MeshSettings
    channel: aio_pika.abc.AbstractChannel
    exchange: aio_pika.abc.AbstractExchange
    seen: list[Envelope[Any]]
    database_url: str

    async def publish(self, payload: Any, job_id: uuid.UUID) -> Envelope[Any]:
        envelope = Envelope.wrap(payload, job_id=job_id, producer="gateway")
        await self.exchange.publish(aio_pika.Message(envelope.model_dump_json().encode(),
                                                     message_id=str(envelope.event_id)),
                                    routing_key=envelope.routing_key)
        return envelope

    async def wait_for(self, kind: type, count: int = 1, timeout_s: float = 10) -> list[Envelope[Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in self.seen if isinstance(e.payload, kind)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)

    async def queue_count(self, name: str) -> int:
        underlay = await self.channel.get_underlay_channel()
        return (await underlay.queue_declare(name, passive=True)).message_count or 0


@pytest.fixture
async def mesh(infra, ingest_database: str, tmp_path: Path) -> AsyncIterator[Mesh]:
    suffix = f"kc{uuid.uuid4().hex[:8]}"
    settings = MeshSettings(
        environment="test", database_url=with_user(ingest_database, role_name("ingest")), amqp_url=infra.amqp_url,
        redis_url=infra.redis_url, artifact_url=(tmp_path / "artifacts").as_uri(), exchange=f"dsp.events.{suffix}",
        queue_prefix=suffix, retry_delays_ms=(200, 400), outbox_poll_s=0.1, prefetch=1, metrics_port=0)
    topology = topology_of(settings)
    await declare_with_url(infra.amqp_url, topology)
    connection = await aio_pika.connect_robust(infra.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(settings.exchange)
    probe = await channel.declare_queue(exclusive=True, auto_delete=True)
    await probe.bind(exchange, routing_key="#")
    seen: list[Envelope[Any]] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        seen.append(parse_envelope(message.body))

    await probe.consume(on_message, no_ack=True)
    try:
        yield Mesh(settings=settings, channel=channel, exchange=exchange, seen=seen, database_url=ingest_database)
    finally:
        await connection.close()
        await delete_topology(infra.amqp_url, topology)


def _uploaded(dataset_id: uuid.UUID) -> DatasetUploaded:
    ref = ArtifactRef(key=f"datasets/{dataset_id}/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    return DatasetUploaded(dataset_id=dataset_id, raw=ref, display_name="x.csv")


async def test_a_cancel_reaches_the_running_job_and_later_events_are_dropped(mesh: Mesh) -> None:
    worker = Worker()
    app = build_app(worker.spec(), mesh.settings)
    job, dataset = uuid.uuid4(), uuid.uuid4()
    topology = topology_of(mesh.settings)
    async with app.router.lifespan_context(app):
        first = await mesh.publish(_uploaded(dataset), job)
        await asyncio.wait_for(worker.started.wait(), 10)
        await asyncio.sleep(0.2)  # well inside its work
        requested = time.monotonic()
        await mesh.publish(JobCancelRequested(requested_at=datetime.now(UTC), reason="asked by the user"), job)
        acks = await mesh.wait_for(JobCancelled)
        assert worker.stopped_at, "the running use case was never told"
        latency = worker.stopped_at[0] - requested
        print(f"cancel reached the running job's token {latency * 1000:.0f} ms after it was published")
        assert latency < 1.0
        assert len(acks) == 1 and acks[0].job_id == job and acks[0].producer == "ingest"
        ack = acks[0].payload
        assert (ack.stage, ack.step, ack.dataset_id) == ("ingest", "fitting", dataset)
        assert ack.stopped_after_s is not None and ack.stopped_after_s < 1.5

        # the job's later event is dropped here: the durable job.cancel_requested came after the first one
        await mesh.publish(_uploaded(dataset), job)
        acks = await mesh.wait_for(JobCancelled, 2)
        assert len(acks) == 2 and acks[1].payload.step == "" and len(worker.calls) == 1

    # a replica started after the cancellation knows it from the service's table
    later = Worker()
    app = build_app(later.spec(), mesh.settings)
    async with app.router.lifespan_context(app):
        third = await mesh.publish(_uploaded(dataset), job)
        acks = await mesh.wait_for(JobCancelled, 3)
        assert len(acks) == 3 and later.calls == []
        # another job runs as usual
        other = uuid.uuid4()
        await mesh.publish(_uploaded(uuid.uuid4()), other)
        await asyncio.wait_for(later.started.wait(), 10)
        await mesh.publish(JobCancelRequested(requested_at=datetime.now(UTC)), other)  # so the stop is quick
        await mesh.wait_for(JobCancelled, 4)

    names = {type(e.payload).__name__ for e in mesh.seen if e.job_id == job}
    assert "StageFailed" not in names and "DatasetRejected" not in names  # no failure, no half-written result
    assert await mesh.queue_count(topology.dead_letter_queue("ingest")) == 0
    for delay in topology.retry_delays_ms:
        assert await mesh.queue_count(topology.retry_queue("ingest", delay)) == 0
    with psycopg.connect(mesh.database_url) as conn:
        handled = {row[0] for row in conn.execute("SELECT event_id FROM ingest.inbox")}
        cancelled = conn.execute("SELECT reason FROM ingest.cancelled_jobs WHERE job_id = %s", (job,)).fetchone()
    assert {first.event_id, third.event_id} <= handled  # handled: a redelivery changes nothing
    assert cancelled == ("asked by the user",)
