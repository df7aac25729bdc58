"""Remembers ``(iss, jti)`` pairs until their token expires, so each JWT is accepted once.

CDS Hooks best practice asks services to keep a ``jti`` replay cache. In one process a
bounded in-memory cache does; with several replicas (or uvicorn workers) they must
share Redis (``OIH_REDIS_URL``), else a token replayed to another replica is accepted.
Both fail closed: when the cache cannot answer, :class:`ReplayCacheUnavailable` is
raised and the request is refused rather than waved through.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol, cast, runtime_checkable

import redis.asyncio as redis_asyncio
from redis.exceptions import RedisError

from service.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES: Final = 100_000
REDIS_KEY_PREFIX: Final = "oih-cds:jti:"


class ReplayCacheUnavailable(Exception):
    """The cache cannot tell whether a jti is new (full, or Redis unreachable)."""


@runtime_checkable
class ReplayCache(Protocol):
    async def check_and_store(self, iss: str, jti: str, expires_at: float) -> bool:
        """Record ``(iss, jti)`` until ``expires_at`` (epoch seconds); True if first use."""
        ...

    async def aclose(self) -> None:
        """Release connections (called at shutdown)."""
        ...


def replay_key(iss: str, jti: str) -> str:
    """Hash of ``iss`` and ``jti``: fixed length, no caller data in keys or memory dumps."""
    return hashlib.sha256(iss.encode("utf-8") + b"\x00" + jti.encode("utf-8")).hexdigest()


class MemoryReplayCache:
    """Bounded, expiring, per-process cache.

    ``check_and_store`` never awaits between the check and the store, so it is atomic on
    the event loop. When full of unexpired entries it refuses (fails closed) instead of
    evicting a live entry, which would re-open a replay window.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def __bool__(self) -> bool:  # an empty cache is still a cache (``cache or default``)
        return True

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires_at, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires_at:
                del self._expiry[key]

    async def check_and_store(self, iss: str, jti: str, expires_at: float) -> bool:
        now = self._clock()
        self._purge(now)
        key = replay_key(iss, jti)
        if key in self._expiry:
            return False
        if len(self._expiry) >= self._max_entries:
            logger.error("in-memory jti replay cache is full (%d entries)", self._max_entries)
            raise ReplayCacheUnavailable("replay cache full")
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        return True

    async def aclose(self) -> None:
        self._expiry.clear()
        self._heap.clear()


class RedisReplayCache:
    """Shared cache: ``SET <prefix><sha256> 1 NX EXAT <exp>`` is atomic across replicas."""

    def __init__(
        self,
        client: redis_asyncio.Redis,
        *,
        prefix: str = REDIS_KEY_PREFIX,
        owns_client: bool = True,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, *, prefix: str = REDIS_KEY_PREFIX) -> RedisReplayCache:
        client = redis_asyncio.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix=prefix, owns_client=True)

    @property
    def prefix(self) -> str:
        return self._prefix

    def key(self, iss: str, jti: str) -> str:
        return self._prefix + replay_key(iss, jti)

    async def check_and_store(self, iss: str, jti: str, expires_at: float) -> bool:
        # EXAT needs a positive integer; round up so the entry never expires early.
        exat = max(1, math.ceil(expires_at))
        try:
            stored = await cast(
                Awaitable[object],
                self._client.set(self.key(iss, jti), b"1", nx=True, exat=exat),
            )
        except RedisError as error:
            logger.error("Redis jti replay cache unavailable: %s", type(error).__name__)
            raise ReplayCacheUnavailable("redis unavailable") from None
        return bool(stored)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def create_replay_cache(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> ReplayCache:
    """Redis when ``OIH_REDIS_URL`` is set (shared by replicas), else in-memory."""
    if settings.redis_url:
        return RedisReplayCache.from_url(settings.redis_url)
    if settings.workers > 1:
        logger.warning(
            "OIH_WORKERS=%d without OIH_REDIS_URL: the jti replay cache is per worker, so a "
            "token replayed to another worker is accepted; set OIH_REDIS_URL",
            settings.workers,
        )
    return MemoryReplayCache(clock=clock)
