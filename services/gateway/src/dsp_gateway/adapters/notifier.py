"""Redis pub/sub carries job progress from whichever gateway replica consumed an event to the
replica holding the user's WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis

__all__ = ["JobNotifier"]


class JobNotifier:
    def __init__(self, url: str, *, namespace: str = "dsp") -> None:
        self.client = redis.from_url(url)
        self.namespace = namespace

    def channel(self, job_id: str) -> str:
        return f"{self.namespace}:job:{job_id}"

    async def publish(self, job_id: str, message: dict[str, Any]) -> None:
        await self.client.publish(self.channel(job_id), json.dumps(message, default=str))

    async def subscribe(self, job_id: str) -> AsyncIterator[dict[str, Any]]:
        """Yield messages for one job; the subscription is live once the first ``None`` is yielded."""
        pubsub = self.client.pubsub()
        await pubsub.subscribe(self.channel(job_id))
        try:
            yield {}
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    yield {}
                    continue
                yield json.loads(message["data"])
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
