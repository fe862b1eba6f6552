"""The Redis notifier against the real Redis of this machine, on a channel namespace of each test's own."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from dsp_gateway.adapters.notifier import RedisJobNotifier, SubscriptionLost
from dsp_gateway.service_layer.uploads import wait_for_ingest_verdict

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DSP_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def notifier() -> AsyncIterator[RedisJobNotifier]:
    real = RedisJobNotifier(REDIS_URL, namespace=f"dsp-test-notifier-{uuid.uuid4().hex[:10]}")
    yield real
    channels = await real.client.pubsub_channels(f"{real.namespace}:*")
    await real.close()
    assert channels == [], f"subscriptions left open: {channels}"


async def test_a_message_after_several_empty_waits_still_arrives(notifier: RedisJobNotifier) -> None:
    """Pub/sub messages are not kept: the subscription must stay open across the waits that time out."""
    job = str(uuid.uuid4())
    async with notifier.subscribe(job) as subscription:
        for _ in range(3):
            assert await subscription.get(timeout=0.4) is None
        waiter = asyncio.create_task(subscription.get())
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        await notifier.publish(job, {"type": "upload.progress", "status": "running", "row_count": 26115})
        assert await subscription.get(timeout=2) == {"type": "upload.progress", "status": "running",
                                                     "row_count": 26115}
        assert await notifier.client.pubsub_numsub(notifier.channel(job)) == [(notifier.channel(job).encode(), 1)]


async def test_the_upload_wait_gets_a_verdict_published_after_the_first_second(notifier: RedisJobNotifier) -> None:
    job = str(uuid.uuid4())
    status = {"value": "uploaded"}

    async def read() -> dict[str, str]:
        return {"status": status["value"]}

    async def ingest_answers() -> None:
        await asyncio.sleep(1.5)
        status["value"] = "ingested"
        await notifier.publish(job, {"type": "upload.progress", "status": "running"})

    answer = asyncio.create_task(ingest_answers())
    started = time.monotonic()
    verdict = await wait_for_ingest_verdict(notifier, job, read, timeout_s=10, recheck_s=1.0)
    await answer
    assert verdict == {"status": "ingested"}
    assert 1.5 <= time.monotonic() - started < 1.95


async def test_a_redis_that_does_not_answer_is_a_lost_subscription() -> None:
    unreachable = RedisJobNotifier("redis://127.0.0.1:1/0", namespace="dsp-test-unreachable")
    try:
        with pytest.raises(SubscriptionLost):
            async with unreachable.subscribe("job"):
                pass
    finally:
        await unreachable.close()
