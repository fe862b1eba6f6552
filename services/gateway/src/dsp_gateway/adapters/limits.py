"""Rate limits: the port, in Redis (shared by every gateway replica) and in memory (one process).

Rates use the ``limits`` library (moving window), on redis-py or in memory; concurrency slots (Redis
only) are a sorted set per key
(member = holder, score = when its hold expires), changed by one Lua script so that two replicas never
hand out the same last slot. Every key starts with the namespace (DSP_REDIS_NAMESPACE), which keeps test
runs apart.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass

import redis.asyncio as redis
from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from .notifier import redis_options

__all__ = ["InMemoryLimiter", "Limiter", "RedisLimiter", "RetryAfter"]


@dataclass(frozen=True)
class RetryAfter:
    """The limit is reached: try again in ``seconds`` (the value of a Retry-After header)."""

    seconds: int


# KEYS[1] the slot set; ARGV: now, holder, max slots, expiry of this hold
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]) * 1000))
return 1
"""


class Limiter(abc.ABC):
    """Port: moving-window rate limits ("10/15minutes", "30/minute") per key, over a ``limits`` storage."""

    def __init__(self, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the limiter cannot work (readiness check)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def hit(self, key: str, limit: str) -> RetryAfter | None:
        """Count one hit of ``key`` against ``limit`` ("10/15minutes", "30/minute"); RetryAfter when refused."""
        item = parse(limit)
        if await self._limiter.hit(item, key):
            return None
        return await self._retry_after(item, key)

    async def check(self, key: str, limit: str) -> RetryAfter | None:
        """Whether one more hit would be refused, without counting it."""
        item = parse(limit)
        if await self._limiter.test(item, key):
            return None
        return await self._retry_after(item, key)

    async def reset(self, key: str, limit: str) -> None:
        await self._limiter.clear(parse(limit), key)

    async def _retry_after(self, item: object, key: str) -> RetryAfter:
        stats = await self._limiter.get_window_stats(item, key)  # type: ignore[arg-type]
        return RetryAfter(max(1, math.ceil(stats.reset_time - time.time())))


class InMemoryLimiter(Limiter):
    """The limits of one process (``dsp serve``): nothing shared, nothing to connect to."""

    def __init__(self) -> None:
        super().__init__(MemoryStorage())

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisLimiter(Limiter):
    def __init__(self, redis_url: str, *, namespace: str) -> None:
        self.namespace = namespace
        super().__init__(RedisStorage(redis_url if redis_url.startswith("async+") else f"async+{redis_url}",
                                      implementation="redispy", key_prefix=f"{namespace}:limits", **redis_options()))
        self._redis = redis.from_url(redis_url.removeprefix("async+"), **redis_options())
        self._acquire = self._redis.register_script(_ACQUIRE)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    def _slots(self, key: str) -> str:
        return f"{self.namespace}:slots:{key}"

    async def acquire_slot(self, key: str, holder: str, max_slots: int, ttl_s: float) -> bool:
        """Take one of ``max_slots`` slots of ``key`` for ``holder`` for at most ``ttl_s`` seconds.

        False when all are held. Taking it again as the same holder succeeds and extends the hold; a hold
        whose holder died ends by itself after ``ttl_s``.
        """
        now = time.time()
        taken = await self._acquire(keys=[self._slots(key)], args=[now, holder, max_slots, now + ttl_s])
        return bool(taken)

    async def release_slot(self, key: str, holder: str) -> None:
        await self._redis.zrem(self._slots(key), holder)

    async def slots_in_use(self, key: str) -> int:
        slots = self._slots(key)
        await self._redis.zremrangebyscore(slots, "-inf", time.time())
        return int(await self._redis.zcard(slots))
