"""The job notifiers: Redis (the real one of this machine, on a channel namespace of each test's own) and in
process, with the same test bodies where they promise the same."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from dsp_gateway.adapters.notifier import InMemoryJobNotifier, JobNotifier, RedisJobNotifier, SubscriptionLost
from dsp_gateway.service_layer.uploads import wait_for_ingest_verdict

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("DSP_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["redis", "memory"])
async def notifier(request: pytest.FixtureRequest) -> AsyncIterator[JobNotifier]:
    if request.param == "memory":
        memory = InMemoryJobNotifier()
        yield memory
        assert memory._subscriptions == {}, "subscriptions left open"
        await memory.close()
        return
    real = RedisJobNotifier(REDIS_URL, namespace=f"dsp-test-notifier-{uuid.uuid4().hex[:10]}")
    yield real
    channels = await real.client.pubsub_channels(f"{real.namespace}:*")
    await real.close()
    assert channels == [], f"subscriptions left open: {channels}"


async def test_a_message_after_several_empty_waits_still_arrives(notifier: JobNotifier) -> None:
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
        if isinstance(notifier, RedisJobNotifier):
            assert await notifier.client.pubsub_numsub(notifier.channel(job)) == [
                (notifier.channel(job).encode(), 1)]


async def test_every_subscriber_of_the_job_gets_each_message_as_json_and_no_other_job_does(
        notifier: JobNotifier) -> None:
    job, other = str(uuid.uuid4()), str(uuid.uuid4())
    await notifier.ping()
    await notifier.publish(job, {"type": "before"})  # nobody listens yet: it is gone
    async with notifier.subscribe(job) as first, notifier.subscribe(job) as second, \
            notifier.subscribe(other) as elsewhere:
        await notifier.publish(job, {"type": "upload.progress", "job_id": uuid.UUID(job), "progress": 0.5})
        await notifier.publish(job, {"type": "dashboard.ready"})
        for subscription in (first, second):
            assert await subscription.get(timeout=2) == {"type": "upload.progress", "job_id": job, "progress": 0.5}
            assert await subscription.get(timeout=2) == {"type": "dashboard.ready"}
        assert await elsewhere.get(timeout=0.3) is None
    async with notifier.subscribe(job) as late:
        assert await late.get(timeout=0.3) is None


async def test_the_upload_wait_gets_a_verdict_published_after_the_first_second(notifier: JobNotifier) -> None:
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
