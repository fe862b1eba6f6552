"""A stage service starts while the broker is down (``mesh_kit.service.BrokerAttachment``), on the real RabbitMQ
and PostgreSQL: the broker link goes through a loopback TCP proxy (``tests/loopback_proxy.py``) that refuses every
connection, then resumes.

While refused, the service starts and serves: /health/startup 200, /health/ready 503 naming the broker, a few
log lines however long the outage lasts, its warm-up not run. Once the proxy listens again the service attaches
(publisher, cancel listener, consumer) within its retry pause, readiness turns 200, an event published meanwhile
is consumed and its result published, and the warm-up runs once, after the consumer is attached.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import httpx
import pytest
from mesh_kit.cancellation import cancel_subscription
from mesh_kit.db import role_name, with_user
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from mesh_kit.service import BrokerAttachment, build_app, topology_of
from mesh_kit.settings import MeshSettings
from mesh_kit.topology import declare_with_url, delete_topology
from shared_contracts import ArtifactRef, Envelope, parse_envelope
from shared_contracts.events import DatasetRejected, DatasetUploaded
from shared_contracts.manifest import SERVICES

from ..conftest import migrated_database
from ..loopback_proxy import TcpProxy

pytestmark = pytest.mark.integration

OUTAGE_S = 6.0
RETRY_MAX_S = 1.0


@pytest.fixture(scope="module")
def ingest_database(infra) -> Iterator[str]:
    with migrated_database(infra, "kbroker", service="ingest") as url:
        yield url


@pytest.fixture
async def settings(infra, ingest_database: str, tmp_path: Path) -> AsyncIterator[tuple[MeshSettings, TcpProxy]]:
    suffix = f"kb{uuid.uuid4().hex[:8]}"
    parts = urlsplit(infra.amqp_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy:
        settings = MeshSettings(
            environment="test", database_url=with_user(ingest_database, role_name("ingest")),
            amqp_url=proxy.url(infra.amqp_url), redis_url=infra.redis_url, artifact_url=(tmp_path / "a").as_uri(),
            exchange=f"dsp.events.{suffix}", queue_prefix=suffix, retry_delays_ms=(200, 400), outbox_poll_s=0.1,
            publish_timeout_s=2.0, broker_retry_max_s=RETRY_MAX_S, metrics_port=0)
        await declare_with_url(infra.amqp_url, topology_of(settings))  # the migration's part: queues exist
        try:
            yield settings, proxy
        finally:
            proxy.resume()
            await delete_topology(infra.amqp_url, topology_of(settings))


async def test_a_service_starts_with_the_broker_down_and_attaches_when_it_returns(
        infra, settings: tuple[MeshSettings, TcpProxy]) -> None:
    mesh, proxy = settings
    handled: list[uuid.UUID] = []
    warmed: list[tuple[float, bool]] = []
    app_ref: dict[str, Any] = {}

    async def work(event: DatasetUploaded, deps: StageDeps[Any]) -> None:
        handled.append(event.dataset_id)
        async with deps.unit_of_work() as uow:
            await uow.emit(DatasetRejected(dataset_id=event.dataset_id, code="c", message="done"))

    def warm_up() -> None:  # in a worker thread: record when, and whether the consumer was attached by then
        assert threading.current_thread() is not threading.main_thread()
        attach = app_ref["app"].state.runtime.extras["broker"]
        warmed.append((time.monotonic(), attach.attached))

    spec = ServiceSpec(manifest=SERVICES["ingest"], warm_up=warm_up,
                       subscriptions=[Subscription(DatasetUploaded, work), cancel_subscription()])
    proxy.refuse()
    app = app_ref["app"] = build_app(spec, mesh)
    records = _Records()
    loggers = [logging.getLogger(name) for name in ("mesh_kit.service", "aiormq", "aio_pika")]
    for logger in loggers:  # not the root: the service's logging set-up replaces its handlers
        logger.addHandler(records)
    started = time.monotonic()
    try:
        await _run(app, infra, mesh, proxy, handled, warmed, records, started)
    finally:
        for logger in loggers:
            logger.removeHandler(records)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _run(app: Any, infra: Any, mesh: MeshSettings, proxy: TcpProxy, handled: list[uuid.UUID],
               warmed: list[tuple[float, bool]], records: _Records, started: float) -> None:
    async with app.router.lifespan_context(app):
        start_s = time.monotonic() - started
        assert start_s < mesh.publish_timeout_s + 2, start_s  # the start does not wait out the outage
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            assert (await client.get("/health/startup")).status_code == 200
            await asyncio.sleep(OUTAGE_S)
            ready = await client.get("/health/ready")
            assert ready.status_code == 503, ready.text
            body = ready.json()
            assert body["unavailable"] == ["rabbitmq"] and body["checks"]["postgres"] == "ok", body
            assert "broker not reached after" in body["checks"]["rabbitmq"], body
            attach: BrokerAttachment = app.state.runtime.extras["broker"]
            assert not attach.attached and attach.attempts >= 4, attach.attempts
            ours = [r for r in records.records if r.name == "mesh_kit.service" and r.levelno >= logging.WARNING]
            theirs = [r for r in records.records if r.name != "mesh_kit.service" and r.levelno >= logging.WARNING]
            # one line at the first failure, then one per LOG_EVERY attempts: bounded, however long the outage
            bound = 1 + attach.attempts // BrokerAttachment.LOG_EVERY
            assert 1 <= len(ours) <= bound, [r.getMessage() for r in ours]
            assert len(theirs) <= bound, [r.getMessage() for r in theirs]
            assert warmed == []

            # an event published on the real broker during the outage waits in the service's queue
            dataset = uuid.uuid4()
            seen = await _publish_and_watch(infra.amqp_url, mesh, dataset)
            proxy.resume()
            resumed = time.monotonic()
            while (await client.get("/health/ready")).status_code != 200:
                assert time.monotonic() - resumed < 2 * RETRY_MAX_S + 10, "not ready after the broker returned"
                await asyncio.sleep(0.1)
            print(f"\nstarted in {start_s:.1f} s with the broker refused; {attach.attempts} attempts; ready "
                  f"{time.monotonic() - resumed:.1f} s after it returned")
            deadline = time.monotonic() + 15
            while not (handled and seen["rejected"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert handled == [dataset]
            assert seen["rejected"] == [dataset]  # its result reached the broker through the new publisher
            while not warmed and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(warmed) == 1 and warmed[0][1] is True, warmed  # once, after the consumer was attached
            await seen["close"]()


async def _publish_and_watch(amqp_url: str, mesh: MeshSettings, dataset: uuid.UUID) -> dict[str, Any]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(mesh.exchange)
    probe = await channel.declare_queue(exclusive=True, auto_delete=True)
    await probe.bind(exchange, routing_key=DatasetRejected.routing_key())
    rejected: list[uuid.UUID] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        payload = parse_envelope(message.body).payload
        if isinstance(payload, DatasetRejected):
            rejected.append(payload.dataset_id)

    await probe.consume(on_message, no_ack=True)
    ref = ArtifactRef(key=f"datasets/{dataset}/raw", sha256="0" * 64, size_bytes=1, media_type="text/csv")
    envelope = Envelope.wrap(DatasetUploaded(dataset_id=dataset, raw=ref, display_name="x.csv"), job_id=uuid.uuid4(),
                             producer="gateway")
    await exchange.publish(aio_pika.Message(envelope.model_dump_json().encode(), message_id=str(envelope.event_id)),
                           routing_key=envelope.routing_key)
    return {"rejected": rejected, "close": connection.close}
