"""Job progress messages between gateway replicas: Redis pub/sub carries them from whichever replica
consumed an event to the replica holding the user's WebSocket or waiting upload.

A subscription is an object with a queue, not an async generator: a reader task moves messages into
the queue, so a caller that stops waiting (a timeout, a cancelled request) loses nothing and the
subscription stays open for its next wait.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

__all__ = ["InMemoryJobNotifier", "JobNotifier", "JobSubscription", "RedisJobNotifier", "SubscriptionLost",
           "redis_options"]

log = logging.getLogger(__name__)


class SubscriptionLost(ConnectionError):
    """The subscription stopped receiving (the notifier's connection broke); no more messages will come."""


class _Lost:
    def __init__(self, reason: str) -> None:
        self.reason = reason


class JobSubscription:
    """The messages of one job, in the order they arrived; live from the moment it is handed out."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._queue: asyncio.Queue[dict[str, Any] | _Lost] = asyncio.Queue()

    def deliver(self, message: dict[str, Any]) -> None:
        """Queue one message (called by the notifier's reader)."""
        self._queue.put_nowait(message)

    def lose(self, reason: str) -> None:
        """Mark the subscription broken: waiters get ``SubscriptionLost`` once the queued messages are read."""
        self._queue.put_nowait(_Lost(reason))

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, or None when none came within ``timeout`` seconds (None: wait as long as it takes).

        A timeout leaves the subscription as it was; raises ``SubscriptionLost`` once it broke.
        """
        try:
            async with asyncio.timeout(timeout):
                item = await self._queue.get()
        except TimeoutError:
            return None
        if isinstance(item, _Lost):
            self._queue.put_nowait(item)  # every later wait learns it too
            raise SubscriptionLost(f"subscription to job {self.job_id} lost: {item.reason}")
        return item

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        message = await self.get()
        assert message is not None
        return message


class JobNotifier(abc.ABC):
    """Port: publish a job's progress messages, and subscribe to them from any replica."""

    @abc.abstractmethod
    async def publish(self, job_id: str, message: dict[str, Any]) -> None:
        """Send one message to every current subscriber of the job.

        Best effort: progress messages only wake listeners early (the read model is the truth), so a
        notifier that cannot reach its server logs it and returns; it never raises for that.
        """

    @abc.abstractmethod
    def subscribe(self, job_id: str) -> contextlib.AbstractAsyncContextManager[JobSubscription]:
        """A subscription that is live on entry (nothing published after entry is missed), closed on exit.

        Raises ``SubscriptionLost`` on entry when the notifier cannot subscribe.
        """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the notifier cannot work (readiness check)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""


REDIS_TIMEOUT_S = 1.0
"""Longest wait to connect to Redis, and for the answer to one command (a blocked pub/sub read is exempt)."""


def redis_options(timeout_s: float = REDIS_TIMEOUT_S) -> dict[str, Any]:
    """The client options of every Redis connection of the gateway: a Redis that is down, or accepts and never
    answers, costs a command at most two attempts of ``timeout_s`` (redis-py's default is four, with no
    timeout on connect or read), never a hang."""
    return {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s,
            "retry": Retry(NoBackoff(), retries=1)}


class RedisJobNotifier(JobNotifier):
    """Redis pub/sub, one channel per job under a namespace."""

    def __init__(self, url: str, *, namespace: str = "dsp") -> None:
        self.client = redis.from_url(url, **redis_options())
        self.namespace = namespace

    def channel(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}"

    async def publish(self, job_id: str, message: dict[str, Any]) -> None:
        try:
            await self.client.publish(self.channel(job_id), json.dumps(message, default=str))
        except (RedisError, OSError) as exc:
            log.warning("progress message of job %s not sent (Redis unreachable): %r", job_id, exc)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[JobSubscription]:
        """Subscribe, then let a reader task feed the subscription's queue until the block ends."""
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel(job_id))
        except BaseException as exc:
            await pubsub.aclose()
            if isinstance(exc, RedisError | OSError):
                raise SubscriptionLost(f"could not subscribe to job {job_id}: {exc!r}") from exc
            raise
        subscription = JobSubscription(job_id)
        reader = asyncio.create_task(self._read(pubsub, subscription), name=f"notifier-reader-{job_id}")
        try:
            yield subscription
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            try:
                await pubsub.unsubscribe()
            except (RedisError, OSError) as exc:
                log.debug("unsubscribe from job %s failed: %r", job_id, exc)
            finally:
                await pubsub.aclose()

    @staticmethod
    async def _read(pubsub: Any, subscription: JobSubscription) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None and message.get("type") == "message":
                    subscription.deliver(json.loads(message["data"]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection broke, or a message was not JSON
            log.warning("notifier subscription to job %s stopped: %r", subscription.job_id, exc)
            subscription.lose(repr(exc))

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


class InMemoryJobNotifier(JobNotifier):
    """One process, no Redis: publish hands the message to the subscriptions open in this process."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[JobSubscription]] = defaultdict(set)
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, job_id: str, message: dict[str, Any]) -> None:
        self.published.append((job_id, message))
        for subscription in list(self._subscriptions.get(job_id, ())):
            subscription.deliver(json.loads(json.dumps(message, default=str)))

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[JobSubscription]:
        subscription = JobSubscription(job_id)
        self._subscriptions[job_id].add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions[job_id].discard(subscription)
            if not self._subscriptions[job_id]:
                del self._subscriptions[job_id]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()
