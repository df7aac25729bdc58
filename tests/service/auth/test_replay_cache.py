"""jti replay caches: in-memory (bounded, expiring) and Redis (shared by replicas)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from cds_hooks.errors import Unauthenticated
from service.auth.replay import (
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    ReplayCacheUnavailable,
    create_replay_cache,
    replay_key,
)
from service.auth.verify import JwtVerifier
from service.config import Settings

from .conftest import AUD, NOW, Clock, es384_token

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reachable() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return None
    except OSError as error:
        return f"Redis not reachable at 127.0.0.1:6379 ({error}); start redis-server to run this"


@pytest.fixture
async def redis_cache() -> AsyncIterator[RedisReplayCache]:
    problem = _redis_reachable()
    if problem:
        pytest.skip(problem)
    prefix = f"oih-cds-test:{uuid.uuid4().hex}:"
    cache = RedisReplayCache.from_url(REDIS_URL, prefix=prefix)
    yield cache
    client = redis_asyncio.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await cache.aclose()


async def test_memory_first_use_then_replay() -> None:
    cache = MemoryReplayCache(clock=Clock())
    assert await cache.check_and_store("iss", "a", NOW + 60) is True
    assert await cache.check_and_store("iss", "a", NOW + 60) is False
    assert await cache.check_and_store("other-iss", "a", NOW + 60) is True


async def test_memory_entries_expire() -> None:
    clock = Clock()
    cache = MemoryReplayCache(clock=clock)
    await cache.check_and_store("iss", "a", NOW + 60)
    clock.now = NOW + 61
    assert await cache.check_and_store("iss", "a", NOW + 120) is True
    assert len(cache) == 1


async def test_memory_is_bounded_and_fails_closed() -> None:
    clock = Clock()
    cache = MemoryReplayCache(max_entries=2, clock=clock)
    await cache.check_and_store("iss", "a", NOW + 10)
    await cache.check_and_store("iss", "b", NOW + 100)
    with pytest.raises(ReplayCacheUnavailable):
        await cache.check_and_store("iss", "c", NOW + 100)  # never evicts a live entry
    clock.now = NOW + 11  # "a" expired: room again
    assert await cache.check_and_store("iss", "c", NOW + 100) is True
    assert await cache.check_and_store("iss", "b", NOW + 100) is False


async def test_full_cache_refuses_the_request(
    make_verifier: Callable[..., JwtVerifier], ec_key: Any, clock: Clock
) -> None:
    verifier = make_verifier(replay=MemoryReplayCache(max_entries=1, clock=clock))
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    assert caught.value.reason == "replay-cache-unavailable"


async def test_redis_first_use_then_replay(redis_cache: RedisReplayCache) -> None:
    expires = time.time() + 300  # EXAT is wall-clock: must be in the future for the server
    assert await redis_cache.check_and_store("iss", "jti-1", expires) is True
    assert await redis_cache.check_and_store("iss", "jti-1", expires) is False
    assert await redis_cache.check_and_store("other", "jti-1", expires) is True


async def test_redis_keys_are_namespaced_hashed_and_expire(
    redis_cache: RedisReplayCache,
) -> None:
    jti = "raw-jti-value-" + uuid.uuid4().hex
    expires = time.time() + 120
    await redis_cache.check_and_store("https://ehr.example.org", jti, expires)
    key = redis_cache.key("https://ehr.example.org", jti)
    assert key.endswith(replay_key("https://ehr.example.org", jti))
    assert jti not in key
    client = redis_asyncio.from_url(REDIS_URL)
    try:
        ttl = await client.ttl(key)
        assert 100 < ttl <= 121
    finally:
        await client.aclose()


async def test_redis_replay_seen_by_a_second_replica(
    redis_cache: RedisReplayCache,
    make_verifier: Callable[..., JwtVerifier],
    ec_key: Any,
    clock: Clock,
) -> None:
    clock.now = time.time()  # Redis expiry is real time
    replica_a = make_verifier(replay=redis_cache)
    replica_b_cache = RedisReplayCache.from_url(REDIS_URL, prefix=redis_cache.prefix)
    replica_b = make_verifier(replay=replica_b_cache)
    token = es384_token(ec_key, iat=int(clock.now), exp=int(clock.now) + 300)
    await replica_a.verify(f"Bearer {token}", AUD)
    with pytest.raises(Unauthenticated) as caught:
        await replica_b.verify(f"Bearer {token}", AUD)
    assert caught.value.reason == "replayed-jti"
    await replica_b_cache.aclose()


async def test_redis_down_fails_closed() -> None:
    cache = RedisReplayCache.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(ReplayCacheUnavailable):
        await cache.check_and_store("iss", "jti", NOW + 60)
    await cache.aclose()


async def test_factory_chooses_by_redis_url() -> None:
    memory = create_replay_cache(Settings(auth_mode="disabled", redis_url=None))
    shared = create_replay_cache(Settings(auth_mode="disabled", redis_url=REDIS_URL))
    assert isinstance(memory, MemoryReplayCache)
    assert isinstance(shared, RedisReplayCache)
    assert isinstance(memory, ReplayCache)
    await shared.aclose()


def test_factory_warns_when_workers_do_not_share(caplog: pytest.LogCaptureFixture) -> None:
    create_replay_cache(Settings(auth_mode="disabled", redis_url=None, workers=4))
    assert "OIH_REDIS_URL" in caplog.text
