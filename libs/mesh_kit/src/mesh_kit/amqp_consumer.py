"""Consuming one queue with aio-pika: prefetch, ack only after the work is recorded, graceful stop.

The consumer knows nothing of envelopes or handlers: it turns each AMQP delivery into a
``Delivery`` and awaits ``handle`` on it. When ``handle`` returns, the message is acked; when it
raises (the database or broker failed while recording the outcome), the message goes back to
the queue after a pause, so a broken dependency does not spin the message through the broker.
Parsing, deduplication, retries and dead letters belong to ``mesh_kit.consumer.StageRunner``.

``CancelListener`` is a stage process's second consumer: an exclusive, auto-deleted queue of its own, bound
to ``job.cancel_requested``, read on its own channel with no prefetch limit, so that a cancellation reaches
the job's running token (``mesh_kit.cancellation.CancelRegistry``) while the service queue's one delivery
in flight is that very job. The service's queue still delivers the event once per service, durably.

The connection is robust: after a broker restart aio-pika reopens the channel, restores its
prefetch and resumes consuming. Stopping cancels the consumer first, then waits for the
deliveries in flight to finish before it closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from shared_contracts import parse_envelope
from shared_contracts.events import JobCancelRequested

from .cancellation import CancelRegistry
from .consumer import ORIGINAL_ROUTING_KEY, Delivery
from .topology import Topology

__all__ = ["AmqpConsumer", "CancelListener", "delivery_of"]

log = logging.getLogger(__name__)

def delivery_of(message: AbstractIncomingMessage) -> Delivery:
    """The parts of an AMQP message the delivery contract needs."""
    headers = dict(message.headers or {})
    return Delivery(
        body=message.body,
        headers=headers,
        routing_key=str(headers.get(ORIGINAL_ROUTING_KEY) or message.routing_key or ""),
        message_id=message.message_id,
    )


class AmqpConsumer:
    """One consumer on one existing queue; ``handle`` is awaited for every delivery, then it is acked.

    Parameters
    ----------
    url
        The AMQP URL of the broker.
    queue
        The name of a queue that already exists (``mesh_kit.topology`` declares it).
    handle
        Awaited with each delivery; the message is acked when it returns and requeued when it raises.
    prefetch
        How many unacked deliveries the broker hands this consumer at once.
    graceful_timeout_s
        How long ``stop`` waits for the deliveries in flight before it closes the connection anyway
        (the broker then redelivers them).
    requeue_delay_s
        The pause before a delivery whose outcome could not be recorded goes back to the queue.
    """

    def __init__(self, url: str, queue: str, handle: Callable[[Delivery], Awaitable[Any]], *,
                 prefetch: int = 1, graceful_timeout_s: float = 30.0, requeue_delay_s: float = 1.0,
                 connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.queue_name = queue
        self.handle = handle
        self.prefetch = prefetch
        self.graceful_timeout_s = graceful_timeout_s
        self.requeue_delay_s = requeue_delay_s
        self.connect_timeout_s = connect_timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def in_flight(self) -> int:
        """Deliveries being handled right now."""
        return len(self._in_flight)

    async def start(self) -> None:
        """Connect, set the prefetch and start consuming (a retry first closes what a failed start left)."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = self._queue = None
        self._connection = await aio_pika.connect_robust(self.url, timeout=self.connect_timeout_s)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await channel.get_queue(self.queue_name, ensure=True)
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consuming %s (prefetch %d)", self.queue_name, self.prefetch)

    async def stop(self) -> None:
        """Stop taking deliveries, let those in flight finish (up to the graceful timeout), close."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag, timeout=5)
                log.info("stopped consuming %s; %d deliveries in flight", self.queue_name, len(self._in_flight))
            except Exception:
                log.warning("could not cancel the consumer on %s", self.queue_name, exc_info=True)
            self._consumer_tag = None
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=self.graceful_timeout_s)
            if pending:
                log.warning("%d deliveries on %s still running after %.0f s; the broker will redeliver them",
                            len(pending), self.queue_name, self.graceful_timeout_s)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._settle(message)
        finally:
            self._in_flight.discard(task)

    async def _settle(self, message: AbstractIncomingMessage) -> None:
        try:
            await self.handle(delivery_of(message))
        except Exception:
            log.exception("could not record the outcome of a delivery on %s; requeueing it", self.queue_name)
            await asyncio.sleep(self.requeue_delay_s)
            await self._quietly(message.nack(requeue=True), "nack")
            return
        await self._quietly(message.ack(), "ack")

    async def _quietly(self, settle: Awaitable[None], verb: str) -> None:
        # the channel closed under the delivery: the broker requeues it, and the inbox absorbs the repeat
        try:
            await settle
        except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("could not %s a delivery on %s: %r", verb, self.queue_name, exc)


class CancelListener:
    """Cancels the running tokens of a job as soon as its ``job.cancel_requested`` is published.

    Parameters
    ----------
    url
        The AMQP URL of the broker (the service's own user may declare the queue: it is named under its prefix).
    topology
        The exchange and prefix.
    service
        The service this process runs.
    cancels
        The process's registry, whose ``cancel`` is called for each request.
    """

    def __init__(self, url: str, topology: Topology, service: str, cancels: CancelRegistry, *,
                 connect_timeout_s: float = 10.0) -> None:
        self.url, self.topology, self.service, self.cancels = url, topology, service, cancels
        process = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}".replace(".", "-")
        self.queue_name = topology.control_queue(service, process)
        self.connect_timeout_s = connect_timeout_s
        self._connection: AbstractRobustConnection | None = None
        self.received = 0

    async def start(self) -> None:
        """Connect, declare the process's queue and its binding, and start consuming (a retry first closes what
        a failed start left)."""
        await self.stop()
        self._connection = await aio_pika.connect_robust(self.url, timeout=self.connect_timeout_s)
        channel = await self._connection.channel()
        exchange = await channel.get_exchange(self.topology.exchange, ensure=False)
        queue = await channel.declare_queue(self.queue_name, exclusive=True, auto_delete=True, durable=False)
        await queue.bind(exchange, routing_key=JobCancelRequested.routing_key())
        await queue.consume(self._on_message, no_ack=True)
        log.info("listening for cancellations on %s", self.queue_name)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()  # the queue is exclusive: it goes with the connection
            self._connection = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = parse_envelope(message.body)
        except Exception:  # the service's own queue dead-letters what it cannot read
            log.warning("an unreadable cancellation on %s is ignored", self.queue_name, exc_info=True)
            return
        if isinstance(envelope.payload, JobCancelRequested):
            self.received += 1
            self.cancels.cancel(envelope.job_id, envelope.payload.reason, envelope.payload.requested_at)
