"""A stage service starts while the broker is down (``mesh_kit.service.BrokerAttachment``), on the real RabbitMQ
and PostgreSQL: the broker link goes through a loopback TCP proxy (``tests/loopback_proxy.py``) that refuses every
connection, then resumes.

While refused, the service starts and serves: /health/startup 200, /health/ready 503 naming the broker, a few
log lines however long the outage lasts, its warm-up not run. Once the proxy listens again the service attaches
(publisher, cancel listener, consumer) within its retry pause, readiness turns 200, an event published meanwhile
is consumed and its result published, and the warm-up runs once, after the consumer is attached.

Outbox rows written while the publisher is not connected go out the moment it is (the publisher wakes the outbox
relay), at the first attachment and after a reconnect, with a poll interval far longer than the test.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import httpx
import pytest
from mesh_kit.cancellation import cancel_subscription
from mesh_kit.db import role_name, with_user
from mesh_kit.outbox import add_to_outbox
from mesh_kit.ports import ServiceSpec, StageDeps, Subscription
from mesh_kit.service import BrokerAttachment, Runtime, build_app, topology_of
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


POLL_S = 60.0
"""The relay's poll interval in the outbox test: longer than the test, so that only a wake-up publishes in time."""
WOKEN_S = 1.0
"""How soon after the publisher is connected the rows must be on the broker."""


async def test_outbox_rows_written_without_a_broker_are_published_as_soon_as_the_publisher_connects(
        infra, settings: tuple[MeshSettings, TcpProxy]) -> None:
    mesh, proxy = settings
    mesh = mesh.model_copy(update={"outbox_poll_s": POLL_S})
    spec = ServiceSpec(manifest=SERVICES["ingest"])  # no consumer: the attachment is the publisher, then the cancel listener
    arrived: dict[uuid.UUID, float] = {}
    probe = await _probe(infra.amqp_url, mesh, arrived)
    proxy.refuse()
    app = build_app(spec, mesh)
    try:
        async with app.router.lifespan_context(app):
            runtime: Runtime = app.state.runtime
            attach: BrokerAttachment = runtime.extras["broker"]
            connected: list[float] = []
            runtime.publisher.on_connected(lambda: connected.append(time.monotonic()))
            assert not attach.attached

            # the first attachment: rows committed while the broker is refused, the relay tried them and failed
            first = await _write_rows(runtime, 3)
            await asyncio.sleep(1.0)  # longer than the attachment's pause: it has failed again meanwhile
            assert not attach.attached and not arrived
            proxy.resume()
            await _wait_for(lambda: set(first) <= set(arrived), timeout=RETRY_MAX_S + 2 * WOKEN_S + 5,
                            what="the rows of the outage published after the attachment")
            assert len(connected) == 1  # (the cancel listener, attached after the publisher, need not be yet)
            late = max(arrived[e] for e in first) - connected[0]
            assert late < WOKEN_S, f"published {late:.2f} s after the publisher connected (poll {POLL_S:g} s)"

            # a reconnect: the link breaks, rows are committed meanwhile, the robust connection restores it
            proxy.refuse()
            await _wait_for(lambda: not runtime.publisher.is_connected, timeout=5, what="the link broken")
            second = await _write_rows(runtime, 3)
            await asyncio.sleep(0.5)
            assert not set(second) & set(arrived)
            proxy.resume()
            # aio-pika's robust connection retries every 5 s by default
            await _wait_for(lambda: set(second) <= set(arrived), timeout=5 + 2 * WOKEN_S + 5,
                            what="the rows written while the link was broken published after the reconnect")
            assert len(connected) == 2
            late_again = max(arrived[e] for e in second) - connected[1]
            assert late_again < WOKEN_S, f"published {late_again:.2f} s after the reconnect (poll {POLL_S:g} s)"
            print(f"\noutbox published {late:.3f} s after the first attachment, {late_again:.3f} s after a "
                  f"reconnect (poll interval {POLL_S:g} s)")
    finally:
        await probe()


async def _write_rows(runtime: Runtime, count: int) -> list[uuid.UUID]:
    """Commit ``count`` events in the outbox and notify the relay, as a unit of work does; return their ids."""
    envelopes = [Envelope.wrap(DatasetRejected(dataset_id=uuid.uuid4(), code="c", message="m"), job_id=uuid.uuid4(),
                               producer="ingest") for _ in range(count)]
    async with runtime.pool.connection() as conn, conn.transaction():
        for envelope in envelopes:
            await add_to_outbox(conn, envelope)
    runtime.relay.notify()
    # the relay takes them and fails (the publisher is not connected): each row counts an attempt
    async def tried() -> bool:
        async with runtime.pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM outbox WHERE attempts > 0 AND event_id = ANY(%s)",
                                            ([e.event_id for e in envelopes],))).fetchone()
        return bool(row and row[0] >= 1)
    deadline = time.monotonic() + 5
    while not await tried():
        assert time.monotonic() < deadline, "the relay did not try the rows"
        await asyncio.sleep(0.05)
    return [e.event_id for e in envelopes]


async def _wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        await asyncio.sleep(0.01)


async def _probe(amqp_url: str, mesh: MeshSettings, arrived: dict[uuid.UUID, float]) -> Callable[[], Any]:
    """A queue on the real broker (not through the proxy) bound to the events the test writes: records when each
    event arrives, by its event id."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(mesh.exchange)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=DatasetRejected.routing_key())

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        arrived.setdefault(parse_envelope(message.body).event_id, time.monotonic())

    await queue.consume(on_message, no_ack=True)
    return connection.close
