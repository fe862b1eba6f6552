"""The gateway's limiters: moving-window rates in Redis (the real one, by namespace) and in memory, with the same
test bodies; concurrency slots, in Redis only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from dsp_gateway.adapters.limits import InMemoryLimiter, Limiter, RedisLimiter, RetryAfter

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis_limiter(infra) -> AsyncIterator[RedisLimiter]:
    limiter = RedisLimiter(infra.redis_url, namespace=f"{infra.redis_namespace}-lim-{uuid.uuid4().hex[:6]}")
    yield limiter
    await limiter.close()


@pytest.fixture(params=["redis", "memory"])
async def limiter(request: pytest.FixtureRequest, infra) -> AsyncIterator[Limiter]:
    made: Limiter = (RedisLimiter(infra.redis_url, namespace=f"{infra.redis_namespace}-lim-{uuid.uuid4().hex[:6]}")
                     if request.param == "redis" else InMemoryLimiter())
    await made.ping()
    yield made
    await made.close()


async def test_a_rate_refuses_the_hit_past_the_limit_with_a_retry_after(limiter: Limiter) -> None:
    assert [await limiter.hit("k", "3/minute") for _ in range(3)] == [None, None, None]
    refused = await limiter.hit("k", "3/minute")
    assert isinstance(refused, RetryAfter) and 1 <= refused.seconds <= 60
    assert await limiter.check("k", "3/minute") is not None
    assert await limiter.check("other", "3/minute") is None
    await limiter.reset("k", "3/minute")
    assert await limiter.check("k", "3/minute") is None
    assert await limiter.hit("k", "3/minute") is None


async def test_a_check_counts_nothing_and_limits_are_per_key_and_window(limiter: Limiter) -> None:
    for _ in range(5):
        assert await limiter.check("login:ip:1", "2/minute") is None
    assert await limiter.hit("login:ip:1", "2/minute") is None
    assert await limiter.hit("login:ip:1", "2/minute") is None
    refused = await limiter.check("login:ip:1", "2/minute")
    assert refused is not None and 1 <= refused.seconds <= 60
    assert await limiter.hit("login:ip:2", "2/minute") is None
    assert await limiter.hit("login:ip:1", "1/hour") is None  # another window is another count
    hourly = await limiter.check("login:ip:1", "1/hour")
    assert hourly is not None and 60 < hourly.seconds <= 3600


async def test_namespaces_keep_counts_apart(infra, redis_limiter: RedisLimiter) -> None:
    other = RedisLimiter(infra.redis_url, namespace=f"{redis_limiter.namespace}-other")
    try:
        await redis_limiter.hit("k", "1/minute")
        assert await redis_limiter.check("k", "1/minute") is not None
        assert await other.check("k", "1/minute") is None
    finally:
        await other.close()


async def test_concurrency_slots_are_counted_released_and_expire(redis_limiter: RedisLimiter) -> None:
    key = f"automl:{uuid.uuid4()}"
    results = await asyncio.gather(*(redis_limiter.acquire_slot(key, f"job-{i}", 2, 30) for i in range(6)))
    assert sorted(results) == [False, False, False, False, True, True]
    assert await redis_limiter.slots_in_use(key) == 2
    holder = [f"job-{i}" for i, ok in enumerate(results) if ok][0]
    assert await redis_limiter.acquire_slot(key, holder, 2, 30)  # the same holder again: idempotent
    assert not await redis_limiter.acquire_slot(key, "late", 2, 30)
    await redis_limiter.release_slot(key, holder)
    assert await redis_limiter.acquire_slot(key, "late", 2, 30)

    short = f"short:{uuid.uuid4()}"
    assert await redis_limiter.acquire_slot(short, "crashed", 1, 0.3)
    assert not await redis_limiter.acquire_slot(short, "next", 1, 30)
    await asyncio.sleep(0.4)
    assert await redis_limiter.acquire_slot(short, "next", 1, 30), "a dead holder's slot frees itself after its ttl"
