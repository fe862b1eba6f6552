"""Publishing with publisher confirms and mandatory routing, so that nothing vanishes silently."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from pamqp.commands import Basic
from shared_contracts.manifest import SERVICES

from .metrics import MESSAGES_PUBLISHED
from .topology import Topology, declare_service_topology

__all__ = ["AmqpPublisher", "EventPublisher", "PublishError"]

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not confirm the message, or could not route it."""


class EventPublisher(abc.ABC):
    """Port: put one message on the broker and return only once the broker has it."""

    @abc.abstractmethod
    async def publish(
        self, routing_key: str, body: bytes, *, message_id: str, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Publish to the events exchange; raise PublishError when unconfirmed or unroutable."""

    @abc.abstractmethod
    async def send_to_queue(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish straight to one of the service's own retry and dead-letter queues."""

    @abc.abstractmethod
    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time publishing can work again: when the first connection is made, and each
        time a broken link to the broker is restored."""


class AmqpPublisher(EventPublisher):
    """aio-pika publisher on a confirm channel that raises on returned (unroutable) messages."""

    def __init__(self, url: str, topology: Topology, *, service: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.topology = topology
        self.service = service
        self.timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._requeue: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._connected_callbacks: list[Callable[[], None]] = []

    def on_connected(self, callback: Callable[[], None]) -> None:
        self._connected_callbacks.append(callback)

    def _connected(self, *_: object) -> None:
        """The confirm channel is open and the topology declared: after connect(), and after the robust connection
        reconnected and restored its channel (aio-pika's reconnect callbacks run once the channels are back)."""
        for callback in self._connected_callbacks:
            callback()

    async def connect(self) -> None:
        """Connect, open the confirm channel and declare the service's topology; a second call (a retry after a
        failure) first closes what the first left."""
        await self.close()
        self._connection = await aio_pika.connect_robust(self.url, timeout=self.timeout_s)
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await declare_service_topology(self._channel, self.topology, self.service)
        # the service's own retry and dead-letter queues are reached through its requeue exchange, not the
        # default exchange: its broker user may write to no other service's queues
        manifest = SERVICES.get(self.service)
        if manifest is not None and manifest.binding_keys:
            self._requeue = await self._channel.get_exchange(self.topology.requeue_exchange(self.service),
                                                             ensure=False)
        self._connection.reconnect_callbacks.add(self._connected)
        self._connected()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._exchange = self._requeue = None
        if connection is not None:
            await connection.close()

    @property
    def is_connected(self) -> bool:
        """Whether publishing can work now. A robust connection reports itself open while it reconnects;
        its channel is closed from the moment the link broke until it is restored."""
        return (self._connection is not None and not self._connection.is_closed
                and self._channel is not None and not self._channel.is_closed)

    async def _send(self, exchange: AbstractExchange, routing_key: str, body: bytes, message_id: str,
                    headers: Mapping[str, Any] | None) -> None:
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers=dict(headers or {}),
        )
        if not self.is_connected:  # the broker is gone (aio-pika reconnects meanwhile): fail at once, not at the timeout
            raise PublishError(f"{routing_key}: not connected to the broker")
        try:
            # one deadline over the wait for the lock and for the confirm: a broker that accepts and never
            # confirms holds each publish at most timeout_s, queued ones included
            async with asyncio.timeout(self.timeout_s), self._lock:
                confirmation = await exchange.publish(message, routing_key=routing_key, mandatory=True)
        except aio_pika.exceptions.DeliveryError as exc:
            raise PublishError(f"{routing_key}: broker returned the message ({exc})") from exc
        except (TimeoutError, aio_pika.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError,
                ConnectionError) as exc:  # ChannelInvalidStateError: the channel closed under the publish
            raise PublishError(f"{routing_key}: not confirmed ({exc!r})") from exc
        if confirmation is not None and not isinstance(confirmation, Basic.Ack):
            raise PublishError(f"{routing_key}: broker nacked the message")
        MESSAGES_PUBLISHED.labels(self.service, routing_key).inc()

    async def publish(self, routing_key: str, body: bytes, *, message_id: str,
                      headers: Mapping[str, Any] | None = None) -> None:
        if self._exchange is None:
            raise PublishError("publisher is not connected")
        await self._send(self._exchange, routing_key, body, message_id, headers)

    async def send_to_queue(self, queue: str, body: bytes, *, message_id: str,
                            headers: Mapping[str, Any] | None = None) -> None:
        if self._requeue is None:
            raise PublishError("publisher is not connected")
        await self._send(self._requeue, queue, body, message_id, headers)
