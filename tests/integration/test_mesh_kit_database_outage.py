"""A lost database is not the job's fault: a delivery waits for PostgreSQL and is handled again, spending no retry
and adding nothing to the broker's delivery count (``mesh_kit.consumer``, rule 7), against a private PostgreSQL
cluster this module stops and starts, and the real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mesh_kit.artifacts import AsyncArtifactStore, LocalArtifactStore
from mesh_kit.consumer import Delivery, Outcome, StageRunner, lost_database
from mesh_kit.db import migrate_service, open_pool, role_name, with_user
from mesh_kit.ports import StageDeps
from mesh_kit.publisher import AmqpPublisher
from mesh_kit.topology import Topology, declare_with_url, delete_topology
from shared_contracts import ArtifactRef, Envelope
from shared_contracts.events import DatasetUploaded

from tests.chaos.postgres import PrivatePostgres

pytestmark = pytest.mark.integration

SERVICE = "ingest"


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    if not PrivatePostgres.available():
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) for a private cluster: set DSP_CHAOS_PG_BIN")
    with PrivatePostgres() as pg:
        url = pg.create_database("dsp")
        migrate_service(SERVICE, admin_url=url, package="dsp_ingest")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE ingest.effects (event_id uuid)")
            conn.execute("GRANT ALL ON ingest.effects TO dsp_ingest")
        yield pg


class Effects:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def add(self, event_id: uuid.UUID) -> None:
        await self.conn.execute("INSERT INTO effects VALUES (%s)", (event_id,))


@pytest.fixture
async def runtime(infra, private_pg: PrivatePostgres, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    if not private_pg.running():
        private_pg.start()
    url = private_pg.url("dsp")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE ingest.effects, ingest.inbox, ingest.outbox")
    suffix = uuid.uuid4().hex[:6]
    topology = Topology(exchange=f"dsp.events.{suffix}", prefix=f"itest{suffix}", retry_delays_ms=(100, 200))
    pool = await open_pool(with_user(url, role_name(SERVICE)), schema=SERVICE, min_size=2, max_size=4)
    await declare_with_url(infra.amqp_url, topology)
    publisher = AmqpPublisher(infra.amqp_url, topology, service=SERVICE)
    await publisher.connect()

    def runner(**options: Any) -> StageRunner:
        return StageRunner(service=SERVICE, pool=pool, publisher=publisher, topology=topology, repository=Effects,
                           store=AsyncArtifactStore(LocalArtifactStore(tmp_path / "store")), **options)

    try:
        yield {"runner": runner, "pool": pool, "pg": private_pg, "url": url}
    finally:
        await publisher.close()
        await pool.close()
        await delete_topology(infra.amqp_url, topology)
        if not private_pg.running():
            private_pg.start()


def _delivery() -> tuple[Envelope[Any], Delivery]:
    payload = DatasetUploaded(
        dataset_id=uuid.uuid4(),
        raw=ArtifactRef(key="datasets/x/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv"),
        display_name="x.csv",
    )
    envelope = Envelope.wrap(payload, job_id=uuid.uuid4(), producer="gateway")
    return envelope, Delivery(body=envelope.model_dump_json().encode(), headers={}, routing_key=envelope.routing_key,
                              message_id=str(envelope.event_id))


def _recorded(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        effects = conn.execute("SELECT count(*) FROM ingest.effects").fetchone()[0]
        inbox = conn.execute("SELECT count(*) FROM ingest.inbox").fetchone()[0]
        failed = [json.loads(row[0]) for row in conn.execute(
            "SELECT body FROM ingest.outbox WHERE routing_key = 'stage.failed.v1'")]
    return {"effects": effects, "inbox": inbox, "failed": failed}


async def test_a_database_restart_in_the_middle_of_a_handler_loses_nothing_and_spends_no_retry(runtime) -> None:
    pg: PrivatePostgres = runtime["pg"]
    envelope, delivery = _delivery()
    calls: list[int] = []
    restarted: list[asyncio.Task[None]] = []

    async def start_later() -> None:
        await asyncio.sleep(3.0)
        await asyncio.to_thread(pg.start)

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        calls.append(1)
        async with deps.unit_of_work() as uow:
            if len(calls) == 1:  # the server goes down while this unit of work holds its connection
                await asyncio.to_thread(pg.stop, "fast")
                restarted.append(asyncio.create_task(start_later()))
            await uow.repo.add(env.event_id)

    outcome = await runtime["runner"]().process(delivery, handler)
    await asyncio.gather(*restarted)
    assert outcome == Outcome.HANDLED
    assert len(calls) == 2  # handled again once the database answered
    assert _recorded(runtime["url"]) == {"effects": 1, "inbox": 1, "failed": []}


async def test_the_pool_replaces_connections_the_server_dropped_between_deliveries(runtime) -> None:
    pg: PrivatePostgres = runtime["pg"]
    runner = runtime["runner"]()
    calls: list[int] = []

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        calls.append(1)
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)

    assert await runner.process(_delivery()[1], handler) == Outcome.HANDLED
    await asyncio.to_thread(pg.stop, "fast")
    await asyncio.to_thread(pg.start)
    assert await runner.process(_delivery()[1], handler) == Outcome.HANDLED
    assert len(calls) == 2  # no attempt met a dead connection
    assert _recorded(runtime["url"])["effects"] == 2


async def test_a_connection_cut_while_the_database_is_up_is_handled_again_at_once(runtime) -> None:
    calls: list[int] = []

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        calls.append(1)
        async with deps.unit_of_work() as uow:
            if len(calls) == 1:
                with psycopg.connect(runtime["url"], autocommit=True) as admin:  # the backend of this unit of work
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s"
                                  " AND state = 'idle in transaction'", (role_name(SERVICE),))
            await uow.repo.add(env.event_id)

    outcome = await runtime["runner"]().process(_delivery()[1], handler)
    assert outcome == Outcome.HANDLED
    assert len(calls) == 2
    assert _recorded(runtime["url"]) == {"effects": 1, "inbox": 1, "failed": []}


async def test_a_query_error_is_not_an_outage_and_is_retried_as_any_failure(runtime) -> None:
    calls: list[int] = []

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        calls.append(1)
        async with deps.unit_of_work() as uow:
            await uow.conn.execute("SET LOCAL statement_timeout = 10")
            await uow.conn.execute("SELECT pg_sleep(1)")

    outcome = await runtime["runner"]().process(_delivery()[1], handler)
    assert outcome == Outcome.RETRIED  # QueryCanceled (57014): the query's own error, one retry spent
    assert len(calls) == 1


async def test_an_outage_longer_than_the_wait_goes_back_to_the_consumer(runtime) -> None:
    pg: PrivatePostgres = runtime["pg"]
    calls: list[int] = []

    async def handler(env: Envelope[Any], deps: StageDeps[Effects]) -> None:
        calls.append(1)
        async with deps.unit_of_work() as uow:
            await uow.repo.add(env.event_id)

    await asyncio.to_thread(pg.stop, "fast")
    try:
        with pytest.raises(psycopg.OperationalError) as raised:
            await runtime["runner"](outage_wait_s=1.0).process(_delivery()[1], handler)
        assert lost_database(raised.value)
    finally:
        await asyncio.to_thread(pg.start)
    assert calls == []  # the inbox could not even be read: the handler never ran
    assert _recorded(runtime["url"]) == {"effects": 0, "inbox": 0, "failed": []}


def test_lost_database_names_connection_states_only() -> None:
    assert lost_database(psycopg.OperationalError("connection failed"))  # no SQLSTATE: the client lost it
    assert lost_database(psycopg.errors.AdminShutdown())
    assert lost_database(psycopg.errors.CannotConnectNow())
    assert not lost_database(psycopg.errors.QueryCanceled())
    assert not lost_database(psycopg.errors.DeadlockDetected())
    assert not lost_database(RuntimeError("disk on fire"))
    try:
        try:
            raise psycopg.errors.AdminShutdown()
        except psycopg.Error as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert lost_database(wrapped)
