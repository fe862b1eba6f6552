"""The RabbitMQ topology, declared in code.

One topic exchange carries every event. Each consuming service has a durable quorum queue
bound to the routing keys it handles, a set of retry queues (one per backoff delay) that
dead-letter back into it once their TTL expires, a quorum dead-letter queue, and a direct
"requeue" exchange of its own through which it puts messages on its retry and dead-letter
queues and through which they dead-letter (nothing uses the default exchange, ``amq.default``). The bindings come from the service manifest (``shared_contracts.manifest``).

Each service declares the events exchange and only its own queues (``declare_service_topology``):
its broker user may configure nothing else (``mesh_kit.broker``). Every service's ``migrate`` step
declares them too, and migrations run before any service starts (Helm hooks, compose dependencies,
``LocalMesh.up``), so an event is never unroutable because its consumer has not started yet.
``declare_topology`` declares every service's part at once, for an administrator or a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from shared_contracts.manifest import SERVICES

__all__ = ["Topology", "declare_service_topology", "declare_topology"]


@dataclass(frozen=True)
class Topology:
    exchange: str = "dsp.events"
    prefix: str = "dsp"
    retry_delays_ms: tuple[int, ...] = (1000, 5000, 25000)
    delivery_limit: int = 6

    def queue(self, service: str) -> str:
        return f"{self.prefix}.{service}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.prefix}.{service}.dlq"

    def retry_queue(self, service: str, delay_ms: int) -> str:
        return f"{self.prefix}.{service}.retry.{delay_ms}ms"

    def control_queue(self, service: str, process: str) -> str:
        """A process's own exclusive, auto-deleted queue of ``job.cancel_requested`` (``mesh_kit.amqp_consumer``).

        It is named under the service's prefix, which its broker user may configure and read (``mesh_kit.broker``).
        """
        return f"{self.prefix}.{service}.cancel.{process}"

    def requeue_exchange(self, service: str) -> str:
        """The service's direct exchange to its own retry and dead-letter queues (routing key = queue name)."""
        return f"{self.prefix}.{service}.requeue"

    def own_queues(self, service: str) -> list[str]:
        return [self.queue(service), self.dead_letter_queue(service),
                *(self.retry_queue(service, delay) for delay in self.retry_delays_ms)]

    def queue_arguments(self, service: str) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            # dead-lettering goes through the service's own requeue exchange: a queue whose dead-letter exchange is
            # the default one needs write on amq.default, which would let the service reach every queue
            "x-dead-letter-exchange": self.requeue_exchange(service),
            "x-dead-letter-routing-key": self.dead_letter_queue(service),
        }


async def declare_events_exchange(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    return await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_service_topology(channel: AbstractChannel, topology: Topology, service: str) -> AbstractExchange:
    """Declare the events exchange and the service's own queues, bindings and requeue exchange.

    A service that subscribes to nothing declares only the exchange.
    """
    exchange = await declare_events_exchange(channel, topology)
    manifest = SERVICES.get(service)
    if manifest is None or not manifest.binding_keys:
        return exchange
    requeue = await channel.declare_exchange(topology.requeue_exchange(service), aio_pika.ExchangeType.DIRECT,
                                             durable=True)
    dead_letters = await channel.declare_queue(
        topology.dead_letter_queue(service), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letters.bind(requeue, routing_key=dead_letters.name)
    queue = await channel.declare_queue(
        topology.queue(service), durable=True, arguments=topology.queue_arguments(service)
    )
    await queue.bind(requeue, routing_key=queue.name)  # where the retry queues dead-letter to
    for key in manifest.binding_keys:
        await queue.bind(exchange, routing_key=key)
    for delay in topology.retry_delays_ms:
        retry = await channel.declare_queue(
            topology.retry_queue(service, delay),
            durable=True,
            arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": topology.requeue_exchange(service),
                "x-dead-letter-routing-key": topology.queue(service),
            },
        )
        await retry.bind(requeue, routing_key=retry.name)
    return exchange


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """Declare the exchange and every service's queues, retry queues and dead-letter queue (needs a user
    that may configure all of them)."""
    exchange = await declare_events_exchange(channel, topology)
    for service in SERVICES:
        await declare_service_topology(channel, topology, service)
    return exchange


async def declare_with_url(url: str, topology: Topology, service: str | None = None, *,
                           timeout_s: float = 10.0) -> None:
    """Connect, declare one service's part of the topology (or all of it), disconnect."""
    connection = await aio_pika.connect(url, timeout=timeout_s)
    try:
        channel = await connection.channel()
        if service is None:
            await declare_topology(channel, topology)
        else:
            await declare_service_topology(channel, topology, service)
    finally:
        await connection.close()


async def delete_topology(url: str, topology: Topology, *, timeout_s: float = 10.0) -> None:
    """Delete every queue and exchange of a topology (a test's own, or a prefix being retired).

    Quorum queues hold files open on the broker: a test run that leaves hundreds behind can exhaust a
    broker started with the usual limit of 1024 open files.
    """
    connection = await aio_pika.connect(url, timeout=timeout_s)
    try:
        channel = await connection.channel()
        for service in SERVICES:
            for name in topology.own_queues(service):
                await channel.queue_delete(name)
            await channel.exchange_delete(topology.requeue_exchange(service))
        await channel.exchange_delete(topology.exchange)
    finally:
        await connection.close()
