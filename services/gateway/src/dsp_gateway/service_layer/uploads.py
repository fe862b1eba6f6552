"""The upload's bounded wait for ingest's verdict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..adapters.notifier import JobNotifier, JobSubscription, SubscriptionLost
from ..domain.jobs import ingest_has_answered

__all__ = ["wait_for_ingest_verdict"]

log = logging.getLogger(__name__)


async def wait_for_ingest_verdict(notifier: JobNotifier, job_id: str,
                                  read_dataset: Callable[[], Awaitable[dict[str, Any] | None]], *,
                                  timeout_s: float, recheck_s: float = 1.0) -> dict[str, Any] | None:
    """The dataset row once ingest accepted or rejected the upload; None when the deadline passes first.

    The read model is the truth and is read at least every ``recheck_s`` seconds; a message on the job's
    channel only wakes the check early. So a late or lost message costs at most ``recheck_s``, and a
    notifier that cannot subscribe, or breaks while waiting, leaves plain polling until the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with contextlib.AsyncExitStack() as stack:
        subscription: JobSubscription | None
        try:
            # subscribed before the first read: a verdict landing in between still wakes the wait
            subscription = await stack.enter_async_context(notifier.subscribe(job_id))
        except SubscriptionLost as exc:
            log.warning("waiting for ingest of job %s without notifications: %s", job_id, exc)
            subscription = None
        while True:
            row = await read_dataset()
            if row is not None and ingest_has_answered(row["status"]):
                return row
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            pause = min(recheck_s, remaining)
            if subscription is None:
                await asyncio.sleep(pause)
                continue
            try:
                await subscription.get(timeout=pause)
            except SubscriptionLost as exc:
                log.warning("notifications for job %s stopped; polling until the deadline: %s", job_id, exc)
                subscription = None
