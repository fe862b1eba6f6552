"""The delivery contract of mesh_kit against the real RabbitMQ and PostgreSQL: confirms, mandatory
routing, the outbox, the inbox, retries with backoff, dead letters and stage.failed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import psycopg
import pytest
from mesh_kit.artifacts import AsyncArtifactStore, LocalArtifactStore
from mesh_kit.consumer import Delivery, Outcome, StageRunner
from mesh_kit.db import migrate_service, open_pool, role_name, with_database, with_user
from mesh_kit.outbox import OutboxRelay
from mesh_kit.ports import StageDeps, StageError
from mesh_kit.publisher import AmqpPublisher, PublishError
from mesh_kit.topology import Topology, declare_with_url, delete_topology
from psycopg import sql
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.events import DatasetUploaded

pytestmark = pytest.mark.integration

SERVICE = "ingest"  # a real consumer name, so the topology has its queues


def _uploaded(job_id: uuid.UUID | None = None) -> Envelope[Any]:
    payload = DatasetUploaded(
        dataset_id=uuid.uuid4(),
        raw=ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv"),
        display_name="x.csv",
    )
    return Envelope.wrap(payload, job_id=job_id or uuid.uuid4(), producer="gateway")


def _delivery(envelope: Envelope[Any], **headers: Any) -> Delivery:
    return Delivery(body=envelope.model_dump_json().encode(), headers=headers, routing_key=envelope.routing_key,
                    message_id=str(envelope.event_id))


@pytest.fixture(scope="module")
def kit_database(infra) -> Iterator[str]:
    """A database of this module's own, apart from the one a running mesh may use."""
    name = f"dsp_test_{infra.run_id}_kit"
    maintenance = with_database(infra.admin_database_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(infra.admin_database_url, name)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Effects:
    """The repository of the test stage: one row per handled event."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def add(self, event_id: uuid.UUID) -> None:
        await self.conn.execute("INSERT INTO effects VALUES (%s, 'handled')", (event_id,))


@pytest.fixture
async def runtime(infra, kit_database: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    migrate_service(SERVICE, admin_url=kit_database, package="dsp_ingest")
    with psycopg.connect(kit_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ingest.effects (event_id uuid, note text)")
        conn.execute("GRANT ALL ON ingest.effects TO dsp_ingest")
        conn.execute("TRUNCATE ingest.effects, ingest.inbox, ingest.outbox")
    suffix = uuid.uuid4().hex[:6]  # own exchange and queues: a mesh may be running in the same vhost
    topology = Topology(exchange=f"dsp.events.{suffix}", prefix=f"itest{suffix}", retry_delays_ms=(100, 200))
    pool = await open_pool(with_user(kit_database, role_name(SERVICE)), schema=SERVICE)
    await declare_with_url(infra.amqp_url, topology)  # every service's queues, as their migrate steps declare them
    publisher = AmqpPublisher(infra.amqp_url, topology, service=SERVICE)
    await publisher.connect()
    relay = OutboxRelay(pool, publisher, service=SERVICE, poll_s=0.1)
    runner = StageRunner(service=SERVICE, pool=pool, publisher=publisher, topology=topology, relay=relay,
                         store=AsyncArtifactStore(LocalArtifactStore(tmp_path / "store")), repository=Effects)
    connection = await aio_pika.connect_robust(infra.amqp_url)
    channel = await connection.channel()
    for name in [topology.queue(s) for s in ("profile", "gateway", SERVICE)] + [
        topology.dead_letter_queue(SERVICE), *(topology.retry_queue(SERVICE, d) for d in topology.retry_delays_ms)
    ]:
        queue = await channel.declare_queue(name, passive=True)
        await queue.purge()
    try:
        yield {"runner": runner, "relay": relay, "pool": pool, "publisher": publisher, "topology": topology,
               "channel": channel}
    finally:
        await connection.close()
        await publisher.close()
        await pool.close()
        await delete_topology(infra.amqp_url, topology)


async def _count(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    # ask the broker each time: aio-pika caches queue objects and their declaration results
    underlay = await channel.get_underlay_channel()
    return (await underlay.queue_declare(queue, passive=True)).message_count or 0


async def _wait_count(channel: aio_pika.abc.AbstractChannel, queue: str, expected: int, timeout: float = 10) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        count = await _count(channel, queue)
        if count >= expected or asyncio.get_running_loop().time() > deadline:
            return count
        await asyncio.sleep(0.05)


async def _effects(pool) -> int:
    async with pool.connection() as conn:
        return (await (await conn.execute("SELECT count(*) FROM effects")).fetchone())[0]


async def test_unroutable_message_is_an_error_not_silence(runtime) -> None:
    # every event key reaches at least the gateway's catch-all queue, so use a queue that does not exist
    with pytest.raises(PublishError, match="returned"):
        await runtime["publisher"].send_to_queue("no-such-queue", b"{}", message_id=str(uuid.uuid4()))


async def test_every_event_key_is_routable(runtime) -> None:
    await runtime["publisher"].publish("nobody.else.listens.v1", b"{}", message_id=str(uuid.uuid4()))
    assert await _wait_count(runtime["channel"], runtime["topology"].queue("gateway"), 1) == 1


async def test_outbox_row_is_published_with_confirm_after_commit(runtime) -> None:
    envelope = _uploaded()

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)
            from shared_contracts.events import DatasetRejected

            await uow.emit(DatasetRejected(dataset_id=env.payload.dataset_id, code="c", message="m"))

    assert await runtime["runner"].process(_delivery(envelope), handler) == Outcome.HANDLED
    published = await runtime["relay"].relay_once()
    assert published == 1
    assert await _wait_count(runtime["channel"], runtime["topology"].queue("gateway"), 1) >= 1
    async with runtime["pool"].connection() as conn:
        row = await (await conn.execute("SELECT published_at IS NOT NULL, routing_key FROM outbox")).fetchone()
    assert row == (True, "dataset.rejected.v1")


async def test_redelivered_event_changes_nothing(runtime) -> None:
    envelope = _uploaded()
    calls = 0

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        nonlocal calls
        calls += 1
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)

    first = await runtime["runner"].process(_delivery(envelope), handler)
    again = await runtime["runner"].process(_delivery(envelope), handler)
    third = await runtime["runner"].process(_delivery(envelope, **{"x-delivery-count": 1}), handler)
    assert (first, again, third) == (Outcome.HANDLED, Outcome.DUPLICATE, Outcome.DUPLICATE)
    assert calls == 1
    assert await _effects(runtime["pool"]) == 1


async def test_concurrent_duplicates_commit_once(runtime) -> None:
    envelope = _uploaded()

    async def slow_handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        await asyncio.sleep(0.2)
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)

    outcomes = await asyncio.gather(*(runtime["runner"].process(_delivery(envelope), slow_handler)
                                      for _ in range(3)))
    assert sorted(outcomes) == sorted([Outcome.HANDLED, Outcome.DUPLICATE, Outcome.DUPLICATE])
    assert await _effects(runtime["pool"]) == 1


async def test_concurrent_copies_never_rewrite_the_committed_artifact(runtime) -> None:
    # two copies of one event in one process at once (prefetch > 1): a stage's output is not always the same
    # bytes twice (an AutoML fit, a timestamp), so a second run would rewrite the artifact the first committed
    envelope = _uploaded()
    runs: list[ArtifactRef] = []

    async def writes_an_artifact(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        ref = await deps.store.put_bytes(f"jobs/{env.job_id}/result.json", uuid.uuid4().bytes,
                                         media_type="application/json")
        runs.append(ref)
        await asyncio.sleep(0.2)
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)
            from shared_contracts.events import DatasetRejected

            await uow.emit(DatasetRejected(dataset_id=env.payload.dataset_id, code="c", message=ref.sha256))

    outcomes = await asyncio.gather(*(runtime["runner"].process(_delivery(envelope), writes_an_artifact)
                                      for _ in range(3)))
    assert sorted(outcomes) == sorted([Outcome.HANDLED, Outcome.DUPLICATE, Outcome.DUPLICATE])
    assert len(runs) == 1
    async with runtime["pool"].connection() as conn:
        body = (await (await conn.execute(
            "SELECT body FROM outbox WHERE routing_key = 'dataset.rejected.v1'")).fetchone())[0]
    committed = json.loads(body)["payload"]["message"]
    assert committed == runs[0].sha256
    assert await runtime["runner"].store.read_bytes(runs[0])  # the stored bytes still match the committed hash
    assert runtime["runner"]._handling == {}  # nothing kept once the copies are done


async def test_failing_handler_is_retried_with_backoff_then_dead_lettered(runtime) -> None:
    topology: Topology = runtime["topology"]
    envelope = _uploaded()

    async def broken(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        raise RuntimeError("disk on fire")

    runner: StageRunner = runtime["runner"]
    assert await runner.process(_delivery(envelope), broken) == Outcome.RETRIED
    assert await _wait_count(runtime["channel"], topology.retry_queue(SERVICE, 100), 1, timeout=2) in (0, 1)
    # the retry queue dead-letters back into the service queue once its TTL expires
    assert await _wait_count(runtime["channel"], topology.queue(SERVICE), 1) == 1
    queue = await runtime["channel"].get_queue(topology.queue(SERVICE))
    message = await queue.get(timeout=5)
    await message.ack()
    assert message.headers["x-retry-count"] == 1
    retried = Delivery(body=message.body, headers=dict(message.headers), routing_key=envelope.routing_key)
    assert await runner.process(retried, broken) == Outcome.RETRIED
    last = Delivery(body=message.body, headers={**message.headers, "x-retry-count": 2},
                    routing_key=envelope.routing_key)
    assert await runner.process(last, broken) == Outcome.DEAD_LETTERED
    assert await _wait_count(runtime["channel"], topology.dead_letter_queue(SERVICE), 1) == 1
    async with runtime["pool"].connection() as conn:
        body = (await (await conn.execute(
            "SELECT body FROM outbox WHERE routing_key = 'stage.failed.v1'")).fetchone())[0]
    failed = json.loads(body)
    assert failed["job_id"] == str(envelope.job_id)
    assert failed["payload"]["code"] == "retries_exhausted"
    assert "failed 3 times" in failed["payload"]["reason"] and "disk on fire" not in failed["payload"]["reason"]
    dead = await (await runtime["channel"].get_queue(topology.dead_letter_queue(SERVICE))).get(timeout=5)
    await dead.ack()
    assert "Last error: RuntimeError: disk on fire" in str(dead.headers["x-dsp-dead-letter-reason"])  # the operator's


async def test_stage_error_fails_the_job_at_once(runtime) -> None:
    envelope = _uploaded()

    async def bad_input(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        raise StageError("csv_ragged_rows", "Row 3 has 5 fields where the header has 4.")

    assert await runtime["runner"].process(_delivery(envelope), bad_input) == Outcome.FAILED
    assert await runtime["runner"].process(_delivery(envelope), bad_input) == Outcome.DUPLICATE
    async with runtime["pool"].connection() as conn:
        rows = await (await conn.execute("SELECT body FROM outbox WHERE routing_key = 'stage.failed.v1'")).fetchall()
    assert len(rows) == 1
    assert json.loads(rows[0][0])["payload"]["reason"] == "Row 3 has 5 fields where the header has 4."


async def test_poison_message_goes_to_the_dead_letter_queue(runtime) -> None:
    job_id = uuid.uuid4()
    body = json.dumps({"type": "dataset.uploaded", "version": 1, "job_id": str(job_id), "producer": "x",
                       "payload": {"dataset_id": "not-a-uuid"}}).encode()

    async def never(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        raise AssertionError("a poison message must not reach the handler")

    outcome = await runtime["runner"].process(Delivery(body=body, headers={}, routing_key="dataset.uploaded.v1"),
                                              never)
    assert outcome == Outcome.DEAD_LETTERED
    assert await _wait_count(runtime["channel"], runtime["topology"].dead_letter_queue(SERVICE), 1) == 1
    async with runtime["pool"].connection() as conn:
        body_text = (await (await conn.execute(
            "SELECT body FROM outbox WHERE routing_key = 'stage.failed.v1'")).fetchone())[0]
    failed = json.loads(body_text)
    assert failed["job_id"] == str(job_id)
    assert failed["payload"]["code"] == "poison_message"


async def test_crash_looping_message_is_dead_lettered(runtime) -> None:
    envelope = _uploaded()

    async def never(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        raise AssertionError("a message past its delivery limit must not run again")

    limit = runtime["topology"].delivery_limit
    outcome = await runtime["runner"].process(_delivery(envelope, **{"x-delivery-count": limit - 1}), never)
    assert outcome == Outcome.DEAD_LETTERED
