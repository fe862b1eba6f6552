"""The upload's bounded wait for ingest's verdict, with the in-process notifier: no network."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from dsp_gateway.adapters.notifier import InMemoryJobNotifier, JobSubscription, SubscriptionLost
from dsp_gateway.service_layer.uploads import wait_for_ingest_verdict

JOB = "6f1c0000-0000-4000-8000-000000000001"


class DatasetRow:
    """The dataset row as ingest's verdict would leave it, read the way the endpoint reads it."""

    def __init__(self) -> None:
        self.status = "uploaded"
        self.reads = 0

    async def read(self) -> dict[str, Any] | None:
        self.reads += 1
        return {"dataset_id": "d", "status": self.status}


async def _verdict_later(notifier: InMemoryJobNotifier | None, row: DatasetRow, delay_s: float,
                         status: str = "ingested") -> None:
    await asyncio.sleep(delay_s)
    row.status = status
    if notifier is not None:
        await notifier.publish(JOB, {"type": "upload.progress", "status": "running", "message": "ingested"})


async def test_a_verdict_after_the_first_second_of_waiting_ends_the_wait() -> None:
    """The defect this wait once had: its first one-second wait timed out, which ended the subscription."""
    notifier, row = InMemoryJobNotifier(), DatasetRow()
    later = asyncio.create_task(_verdict_later(notifier, row, 1.5))
    started = time.monotonic()

    verdict = await wait_for_ingest_verdict(notifier, JOB, row.read, timeout_s=10, recheck_s=1.0)

    await later
    assert verdict == {"dataset_id": "d", "status": "ingested"}
    # read at 0 s and 1 s (an empty wait went by), then woken by the message at 1.5 s, before the 2 s recheck
    assert 1.5 <= time.monotonic() - started < 1.9
    assert row.reads == 3


async def test_the_message_wakes_the_wait_before_the_recheck() -> None:
    notifier, row = InMemoryJobNotifier(), DatasetRow()
    later = asyncio.create_task(_verdict_later(notifier, row, 0.3, status="rejected"))
    started = time.monotonic()

    verdict = await wait_for_ingest_verdict(notifier, JOB, row.read, timeout_s=10, recheck_s=5)

    await later
    assert verdict is not None and verdict["status"] == "rejected"
    assert time.monotonic() - started < 1.0
    assert row.reads == 2


async def test_no_verdict_by_the_deadline_means_still_reading() -> None:
    notifier, row = InMemoryJobNotifier(), DatasetRow()
    started = time.monotonic()

    verdict = await wait_for_ingest_verdict(notifier, JOB, row.read, timeout_s=1.2, recheck_s=0.5)

    elapsed = time.monotonic() - started
    assert verdict is None
    assert 1.2 <= elapsed < 1.6
    assert row.reads == 4  # at 0, 0.5, 1.0 and once more at the deadline


async def test_a_verdict_already_there_returns_at_once_and_unsubscribes() -> None:
    notifier, row = InMemoryJobNotifier(), DatasetRow()
    row.status = "ingested"

    verdict = await wait_for_ingest_verdict(notifier, JOB, row.read, timeout_s=10)

    assert verdict is not None and row.reads == 1
    assert notifier._subscriptions == {}


class BrokenNotifier(InMemoryJobNotifier):
    """A notifier that cannot subscribe, or whose subscription breaks after ``after_s``."""

    def __init__(self, *, after_s: float | None = None) -> None:
        super().__init__()
        self.after_s = after_s

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[JobSubscription]:
        if self.after_s is None:
            raise SubscriptionLost("redis is down")
        async with super().subscribe(job_id) as subscription:
            asyncio.get_running_loop().call_later(self.after_s, subscription.lose, "connection reset")
            yield subscription


async def test_a_notifier_that_cannot_subscribe_leaves_polling() -> None:
    row = DatasetRow()
    later = asyncio.create_task(_verdict_later(None, row, 0.7))

    verdict = await wait_for_ingest_verdict(BrokenNotifier(), JOB, row.read, timeout_s=5, recheck_s=0.25)

    await later
    assert verdict is not None and verdict["status"] == "ingested"


async def test_a_subscription_lost_mid_wait_leaves_polling_until_the_verdict() -> None:
    row = DatasetRow()
    later = asyncio.create_task(_verdict_later(None, row, 1.0))
    started = time.monotonic()

    verdict = await wait_for_ingest_verdict(BrokenNotifier(after_s=0.2), JOB, row.read, timeout_s=5, recheck_s=0.3)

    await later
    assert verdict is not None and verdict["status"] == "ingested"
    assert time.monotonic() - started < 1.5


async def test_a_subscription_keeps_what_arrives_while_nobody_waits() -> None:
    notifier = InMemoryJobNotifier()
    async with notifier.subscribe(JOB) as subscription:
        for _ in range(3):
            assert await subscription.get(timeout=0.05) is None
        waiter = asyncio.create_task(subscription.get())
        await asyncio.sleep(0.05)
        waiter.cancel()  # a cancelled wait (a request gone) takes nothing with it
        await asyncio.gather(waiter, return_exceptions=True)
        await notifier.publish(JOB, {"n": 1})
        await notifier.publish(JOB, {"n": 2})
        assert await subscription.get(timeout=1) == {"n": 1}
        assert await subscription.get(timeout=1) == {"n": 2}
        subscription.lose("gone")
        for _ in range(2):
            with contextlib.suppress(SubscriptionLost):
                await subscription.get(timeout=1)
                raise AssertionError("a lost subscription must keep saying so")
    await notifier.publish(JOB, {"n": 3})  # nobody subscribed any more: nothing to deliver to
    assert notifier._subscriptions == {}
