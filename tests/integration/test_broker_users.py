"""One broker user per service, on the real RabbitMQ: each publishes and consumes its own, and is refused
configuring, binding or reading another service's queues (mesh_kit.broker)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import aio_pika
import pytest
from aiormq.exceptions import AuthenticationError, ChannelAccessRefused, ChannelClosed
from mesh_kit.broker import apply_with_rabbitmqctl
from mesh_kit.publisher import AmqpPublisher, PublishError
from mesh_kit.topology import Topology, declare_with_url, delete_topology
from shared_contracts.manifest import SERVICES

pytestmark = pytest.mark.integration

REFUSED = (ChannelAccessRefused, ChannelClosed)


@pytest.fixture(scope="module")
def topology() -> Topology:
    suffix = uuid.uuid4().hex[:8]
    return Topology(exchange=f"dsp.events.bu{suffix}", prefix=f"bu{suffix}", retry_delays_ms=(100,))


@pytest.fixture(scope="module")
def users(infra, topology: Topology) -> Iterator[dict[str, str]]:
    """AMQP URLs of per-service users in this run's vhost; the users are removed afterwards."""
    passwords = {service: secrets.token_urlsafe(18) for service in SERVICES}
    passwords["etl"] = "-" + passwords["etl"]  # token_urlsafe makes such a password now and then: not an option
    # users are broker-wide: this run's own names, so parallel runs never change each other's passwords
    names = apply_with_rabbitmqctl(topology, passwords, infra.vhost, user_prefix=f"{topology.prefix}_")
    base = infra.amqp_url.split("@", 1)[1]
    try:
        yield {s: f"amqp://{names[s]}:{quote(p, safe='')}@{base}" for s, p in passwords.items()}
    finally:
        for name in names.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_user", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def declared(infra, topology: Topology, users: dict[str, str]) -> Iterator[None]:
    """Each service declares its own part of the topology with its own user, as its migrate step does."""
    for service, url in users.items():
        asyncio.run(declare_with_url(url, topology, service))
    yield
    asyncio.run(delete_topology(infra.amqp_url, topology))


async def _channel(url: str) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(url, timeout=10)
    return connection, await connection.channel()


async def test_a_service_publishes_what_it_publishes_and_consumes_its_own_queue(
        topology: Topology, users: dict[str, str], declared: None) -> None:
    publisher = AmqpPublisher(users["ingest"], topology, service="ingest")
    await publisher.connect()
    try:
        await publisher.publish("dataset.ingested.v1", b"{}", message_id=str(uuid.uuid4()))
        await publisher.send_to_queue(topology.retry_queue("ingest", 100), b"{}", message_id=str(uuid.uuid4()))
        with pytest.raises(PublishError):  # another service's queue is not behind ingest's requeue exchange
            await publisher.send_to_queue(topology.queue("ml"), b"{}", message_id=str(uuid.uuid4()))
    finally:
        await publisher.close()

    connection, channel = await _channel(users["profile"])
    try:
        queue = await channel.get_queue(topology.queue("profile"))
        message = await queue.get(timeout=5, fail=True)
        assert message.routing_key == "dataset.ingested.v1"
        await message.ack()
    finally:
        await connection.close()


async def test_a_service_cannot_publish_an_event_it_does_not_publish(
        topology: Topology, users: dict[str, str], declared: None) -> None:
    connection, channel = await _channel(users["ingest"])
    try:
        exchange = await channel.get_exchange(topology.exchange)
        with pytest.raises(REFUSED):  # topic permission: ingest never publishes analysis.completed
            await exchange.publish(aio_pika.Message(b"{}"), routing_key="analysis.completed.v1")
            await channel.declare_queue(topology.queue("ingest"), passive=True)  # surfaces the channel error
    finally:
        await connection.close()


@pytest.mark.parametrize("action", ["declare", "consume", "bind", "purge", "delete", "default_exchange"])
async def test_a_service_is_refused_another_services_queue(
        topology: Topology, users: dict[str, str], declared: None, action: str) -> None:
    other = topology.queue("ml")
    connection, channel = await _channel(users["ingest"])
    try:
        with pytest.raises(REFUSED):
            if action == "declare":
                await channel.declare_queue(f"{topology.prefix}.ml.extra", durable=True)
            elif action == "consume":
                queue = await channel.get_queue(other)
                await queue.consume(lambda message: None)
            elif action == "bind":
                queue = await channel.get_queue(other)
                await queue.bind(topology.exchange, routing_key="dataset.uploaded.v1")
            elif action == "purge":
                queue = await channel.get_queue(other)
                await queue.purge()
            elif action == "delete":
                await channel.queue_delete(other)
            else:  # straight onto ml's queue through the default exchange
                await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=other)
                await channel.declare_queue(topology.queue("ingest"), passive=True)
    finally:
        await connection.close()


async def test_a_service_user_cannot_bind_its_queue_to_events_it_does_not_consume(
        topology: Topology, users: dict[str, str], declared: None) -> None:
    connection, channel = await _channel(users["ingest"])
    try:
        queue = await channel.get_queue(topology.queue("ingest"))
        with pytest.raises(REFUSED):
            await queue.bind(topology.exchange, routing_key="analysis.completed.v1")
    finally:
        await connection.close()


async def test_a_wrong_password_is_refused(infra, users: dict[str, str]) -> None:
    user = users["ml"].split("//", 1)[1].split(":", 1)[0]
    bad = users["ml"].replace(f"{user}:", f"{user}:x", 1)
    with pytest.raises((AuthenticationError, ConnectionError, TimeoutError)):
        await aio_pika.connect(bad, timeout=10)


async def test_a_retried_message_comes_back_to_the_services_own_queue(
        topology: Topology, users: dict[str, str], declared: None) -> None:
    """Retry queues dead-letter through the service's requeue exchange, with no right on amq.default."""
    publisher = AmqpPublisher(users["etl"], topology, service="etl")
    await publisher.connect()
    message_id = str(uuid.uuid4())
    try:
        await publisher.send_to_queue(topology.retry_queue("etl", 100), b"{}", message_id=message_id)
    finally:
        await publisher.close()
    connection, channel = await _channel(users["etl"])
    try:
        queue = await channel.get_queue(topology.queue("etl"))
        for _ in range(50):
            message = await queue.get(timeout=5, fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.1)
        assert message is not None and message.message_id == message_id, "the retry did not come back"
        await message.ack()
    finally:
        await connection.close()


def test_the_broker_cli_prints_definitions_from_the_per_service_urls(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mesh_kit.broker import main

    monkeypatch.setenv("DSP_ML_AMQP_URL", "amqp://dsp_ml:s%40cret@rabbitmq:5672/")
    assert main(["definitions", "--services", "ml"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [user["name"] for user in document["users"]] == ["dsp_ml"]
    monkeypatch.setenv("DSP_ML_AMQP_URL", "amqp://someone:pw@rabbitmq:5672/")
    with pytest.raises(SystemExit, match="dsp_ml"):
        main(["definitions", "--services", "ml"])



async def test_each_stage_user_opens_its_own_cancel_control_queue_and_hears_the_gateways_requests(
        topology: Topology, users: dict[str, str], declared: None) -> None:
    from datetime import UTC, datetime

    from mesh_kit.amqp_consumer import CancelListener
    from mesh_kit.cancellation import CancelRegistry
    from shared_contracts import Envelope
    from shared_contracts.events import JobCancelRequested

    stages = [name for name, manifest in SERVICES.items()
              if JobCancelRequested in manifest.subscribes and not manifest.catch_all]
    assert stages and "gateway" not in stages
    listeners = {name: CancelListener(users[name], topology, name, CancelRegistry()) for name in stages}
    for listener in listeners.values():
        await listener.start()  # declares, binds and consumes under its own user's permissions
    try:
        job = uuid.uuid4()
        publisher = AmqpPublisher(users["gateway"], topology, service="gateway")
        await publisher.connect()
        try:
            envelope = Envelope.wrap(JobCancelRequested(requested_at=datetime.now(UTC)), job_id=job, producer="gateway")
            await publisher.publish(envelope.routing_key, envelope.model_dump_json().encode(),
                                    message_id=str(envelope.event_id))
        finally:
            await publisher.close()
        for _ in range(100):
            if all(listener.cancels.is_cancelled(job) for listener in listeners.values()):
                break
            await asyncio.sleep(0.05)
        assert {name: listener.cancels.is_cancelled(job) for name, listener in listeners.items()} == dict.fromkeys(
            stages, True)
    finally:
        for listener in listeners.values():
            await listener.stop()
    with pytest.raises(REFUSED):  # and no one else's: ingest may not name a queue under ml's prefix
        await CancelListener(users["ingest"], Topology(exchange=topology.exchange, prefix=f"{topology.prefix}.ml"),
                             "x", CancelRegistry()).start()
