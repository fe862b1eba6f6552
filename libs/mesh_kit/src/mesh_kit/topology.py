"""The RabbitMQ topology, declared in code.

One topic exchange carries every event. Each consuming service has a durable quorum queue
bound to the routing keys it handles, a set of retry queues (one per backoff delay) that
dead-letter back into it once their TTL expires, and a quorum dead-letter queue. Every
service declares the whole topology at start, so an event is never unroutable because its
consumer has not started yet. The bindings come from the service manifest
(``shared_contracts.manifest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from shared_contracts.manifest import SERVICES

__all__ = ["Topology", "declare_topology"]


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

    def queue_arguments(self, service: str) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_letter_queue(service),
        }


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    """Declare the exchange and every service's queues, retry queues and dead-letter queue."""
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    for service, manifest in SERVICES.items():
        await channel.declare_queue(
            topology.dead_letter_queue(service), durable=True, arguments={"x-queue-type": "quorum"}
        )
        queue = await channel.declare_queue(
            topology.queue(service), durable=True, arguments=topology.queue_arguments(service)
        )
        for key in manifest.binding_keys:
            await queue.bind(exchange, routing_key=key)
        for delay in topology.retry_delays_ms:
            await channel.declare_queue(
                topology.retry_queue(service, delay),
                durable=True,
                arguments={
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": topology.queue(service),
                },
            )
    return exchange
