"""The queue consumer of a service against the real RabbitMQ: ack after the work, requeue when the
outcome could not be recorded, prefetch, and a graceful stop that lets deliveries in flight finish."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from mesh_kit.amqp_consumer import AmqpConsumer
from mesh_kit.consumer import ORIGINAL_ROUTING_KEY, Delivery

pytestmark = pytest.mark.integration


class Broker:
    """A quorum queue of the test's own, and a way to put messages on it and count what is left."""

    def __init__(self, url: str, channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
        self.url = url
        self.channel = channel
        self.queue = queue

    async def put(self, body: bytes, **headers: Any) -> str:
        message_id = str(uuid.uuid4())
        await self.channel.default_exchange.publish(
            aio_pika.Message(body, message_id=message_id, headers=headers,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=self.queue)
        return message_id

    async def counts(self) -> tuple[int, int]:
        """Messages ready and consumers attached, as the broker sees them now."""
        underlay = await self.channel.get_underlay_channel()
        result = await underlay.queue_declare(self.queue, passive=True)
        return result.message_count or 0, result.consumer_count or 0

    def consumer(self, handle: Any, **options: Any) -> AmqpConsumer:
        return AmqpConsumer(self.url, self.queue, handle, **options)


@pytest.fixture
async def broker(infra) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect_robust(infra.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    name = f"consumer-test-{uuid.uuid4().hex[:8]}"
    await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    try:
        yield Broker(infra.amqp_url, channel, name)
    finally:
        await channel.queue_delete(name)
        await connection.close()


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def test_a_handled_delivery_is_acked_with_its_key_headers_and_id(broker: Broker) -> None:
    seen: list[Delivery] = []

    async def handle(delivery: Delivery) -> None:
        seen.append(delivery)

    consumer = broker.consumer(handle)
    first = await broker.put(b'{"n": 1}', **{"dsp-job-id": "j1"})
    second = await broker.put(b'{"n": 2}', **{ORIGINAL_ROUTING_KEY: "dataset.ingested.v1", "x-retry-count": 1})
    await consumer.start()
    try:
        await _until(lambda: _is(len(seen) == 2))
        await _until(lambda: _ready_is(broker, 0))
    finally:
        await consumer.stop()
    assert [d.body for d in seen] == [b'{"n": 1}', b'{"n": 2}']
    assert [d.message_id for d in seen] == [first, second]
    assert seen[0].routing_key == broker.queue  # the key it was published with
    assert seen[0].headers["dsp-job-id"] == "j1"
    assert seen[1].routing_key == "dataset.ingested.v1"  # a retried message keeps its event's key
    assert seen[1].retry_count == 1
    await _until(lambda: _counts_are(broker, (0, 0)))  # acked, not just taken: nothing comes back after the stop


async def test_a_delivery_whose_outcome_was_not_recorded_comes_back_after_a_pause(broker: Broker) -> None:
    calls: list[float] = []

    async def handle(delivery: Delivery) -> None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise ConnectionError("database went away")

    consumer = broker.consumer(handle, requeue_delay_s=0.5)
    await broker.put(b"{}")
    await consumer.start()
    try:
        await _until(lambda: _is(len(calls) == 2))
        await _until(lambda: _ready_is(broker, 0))
    finally:
        await consumer.stop()
    assert calls[1] - calls[0] >= 0.5
    assert (await broker.counts())[0] == 0


async def test_prefetch_bounds_the_deliveries_in_flight(broker: Broker) -> None:
    running = 0
    most = 0
    release = asyncio.Event()
    done = 0

    async def handle(delivery: Delivery) -> None:
        nonlocal running, most, done
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        done += 1

    for n in range(5):
        await broker.put(str(n).encode())
    consumer = broker.consumer(handle, prefetch=2)
    await consumer.start()
    try:
        await _until(lambda: _is(running == 2))
        await asyncio.sleep(0.3)  # time for a third delivery to arrive, were the prefetch ignored
        assert consumer.in_flight == 2
        release.set()
        await _until(lambda: _is(done == 5))
    finally:
        await consumer.stop()
    assert most == 2


async def test_stop_lets_a_delivery_in_flight_finish_and_ack(broker: Broker) -> None:
    started = asyncio.Event()
    finished: list[bytes] = []

    async def handle(delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(0.8)
        finished.append(delivery.body)

    await broker.put(b"slow")
    await broker.put(b"not started")
    consumer = broker.consumer(handle, prefetch=1)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop()
    assert finished == [b"slow"]
    # the one in flight was acked; the other waits for the next consumer (the broker counts consumers lazily)
    await _until(lambda: _counts_are(broker, (1, 0)))


async def test_stop_gives_up_on_a_stuck_delivery_and_the_broker_keeps_it(broker: Broker) -> None:
    started = asyncio.Event()

    async def handle(delivery: Delivery) -> None:
        started.set()
        await asyncio.sleep(3600)

    await broker.put(b"stuck")
    consumer = broker.consumer(handle, graceful_timeout_s=0.5)
    await consumer.start()
    await asyncio.wait_for(started.wait(), 10)
    begun = asyncio.get_running_loop().time()
    await consumer.stop()
    assert asyncio.get_running_loop().time() - begun < 5
    await _until(lambda: _ready_is(broker, 1))


async def _is(value: bool) -> bool:
    return value


async def _ready_is(broker: Broker, expected: int) -> bool:
    return (await broker.counts())[0] == expected


async def _counts_are(broker: Broker, expected: tuple[int, int]) -> bool:
    return await broker.counts() == expected
