"""The cache of who a credential authenticated as: bounded in time, by the credential's own end, and in size."""

from __future__ import annotations

import uuid

from dsp_gateway.domain.identity import Principal
from dsp_gateway.service_layer.identity import PrincipalCache


def _principal(role: str = "analyst") -> Principal:
    return Principal(user_id=uuid.uuid4(), organization_id=uuid.uuid4(), role=role, email="a@example.com")  # type: ignore[arg-type]


def test_a_principal_is_kept_for_the_ttl_and_no_longer() -> None:
    cache, ana = PrincipalCache(ttl_s=1.0), _principal()
    cache.put("token", ana, clock=100.0, expires=None)
    assert cache.get("token", clock=100.99, now=0) is ana
    assert cache.get("token", clock=101.0, now=0) is None
    assert len(cache) == 0  # an entry past its time is dropped
    assert cache.get("another", clock=100.0, now=0) is None


def test_a_credential_that_expires_is_not_kept_past_its_end() -> None:
    cache, ana = PrincipalCache(ttl_s=30.0), _principal()
    cache.put("token", ana, clock=0.0, expires=5_000.0)
    assert cache.get("token", clock=1.0, now=4_999.5) is ana
    assert cache.get("token", clock=1.0, now=5_000.0) is None


def test_clear_forgets_everything_and_a_ttl_of_zero_keeps_nothing() -> None:
    cache = PrincipalCache(ttl_s=5.0)
    cache.put("a", _principal(), clock=0.0, expires=None)
    cache.put("b", _principal(), clock=0.0, expires=None)
    cache.clear()
    assert cache.get("a", clock=0.1, now=0) is None and len(cache) == 0
    off = PrincipalCache(ttl_s=0)
    off.put("a", _principal(), clock=0.0, expires=None)
    assert off.get("a", clock=0.0, now=0) is None


def test_at_most_max_entries_are_kept_the_oldest_going_first() -> None:
    cache = PrincipalCache(ttl_s=60.0, max_entries=3)
    for name in "abcd":
        cache.put(name, _principal(), clock=0.0, expires=None)
    assert len(cache) == 3
    assert cache.get("a", clock=1.0, now=0) is None
    assert all(cache.get(name, clock=1.0, now=0) is not None for name in "bcd")


async def test_concurrent_requests_of_one_credential_make_one_lookup_and_share_its_failure() -> None:
    import asyncio
    from contextlib import asynccontextmanager

    from dsp_gateway.domain.tokens import KeyRing, SigningKey, TokenPolicy
    from dsp_gateway.service_layer.identity import IdentityConfig, NotAuthenticated, authenticate_cached

    lookups: list[str] = []

    class Repo:
        async def live_api_key(self, key_hash: str, *, now: object) -> None:
            lookups.append(key_hash)
            await asyncio.sleep(0.05)
            return None

    @asynccontextmanager
    async def session():  # type: ignore[no-untyped-def]
        yield Repo()

    config = IdentityConfig(ring=KeyRing.build([SigningKey(kid="k", secret="s" * 40)]), policy=TokenPolicy())
    cache = PrincipalCache(ttl_s=1.0)
    answers = await asyncio.gather(*(authenticate_cached(session, config, cache, "dsp_unknown") for _ in range(5)),
                                   return_exceptions=True)
    assert len(lookups) == 1 and all(isinstance(answer, NotAuthenticated) for answer in answers)
    assert not cache.pending and len(cache) == 0  # a failure is not kept
