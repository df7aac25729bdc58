"""The in-memory snooze cache: answers without I/O, reloads on a timer, survives failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from service.snooze_cache import Snapshot, SnoozeCache

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
END = NOW + timedelta(days=90)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeStore:
    """A loader whose answer the test sets, counting calls; fails when told to."""

    def __init__(self) -> None:
        self.snapshot: dict[str, dict[str, datetime]] = {}
        self.calls = 0
        self.fail = False

    async def load(self, now: datetime) -> Snapshot:
        self.calls += 1
        if self.fail:
            raise ConnectionError("database down")
        return {key: dict(topics) for key, topics in self.snapshot.items()}


async def test_answers_from_the_snapshot_filtered_by_topic_and_time() -> None:
    store = FakeStore()
    store.snapshot = {"k1": {"oih-evaluate": END, "other": END}}
    cache = SnoozeCache(store.load, lambda: NOW)
    await cache.start()
    try:
        assert cache.active("k1", ["oih-evaluate"], NOW) == {"oih-evaluate": END}
        assert cache.active("k1", ["avoid-escalation"], NOW) == {}
        assert cache.active("k2", ["oih-evaluate"], NOW) == {}
        assert cache.active("k1", ["oih-evaluate"], END) == {}  # ended in the meantime
        assert len(cache) == 1
    finally:
        await cache.close()


async def test_reloads_on_its_timer() -> None:
    store = FakeStore()
    cache = SnoozeCache(store.load, lambda: NOW, refresh_seconds=0.01)
    await cache.start()
    try:
        assert cache.active("k1", ["oih-evaluate"], NOW) == {}
        store.snapshot = {"k1": {"oih-evaluate": END}}  # made through another replica
        for _ in range(200):
            await asyncio.sleep(0.01)
            if cache.active("k1", ["oih-evaluate"], NOW):
                break
        assert cache.active("k1", ["oih-evaluate"], NOW) == {"oih-evaluate": END}
    finally:
        await cache.close()
    calls = store.calls
    await asyncio.sleep(0.05)
    assert store.calls == calls  # closed: no more reloads


async def test_a_failed_reload_keeps_the_last_snapshot(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    store.snapshot = {"k1": {"oih-evaluate": END}}
    errors: list[int] = []
    cache = SnoozeCache(store.load, lambda: NOW, on_error=lambda: errors.append(1))
    await cache.start()
    store.fail = True
    with caplog.at_level(logging.WARNING):
        assert await cache.refresh() is False
    assert cache.active("k1", ["oih-evaluate"], NOW) == {"oih-evaluate": END}
    assert errors == [1]
    assert "snooze refresh failed (ConnectionError); last snapshot kept" in caplog.text
    store.fail = False
    store.snapshot = {}
    assert await cache.refresh() is True
    assert cache.active("k1", ["oih-evaluate"], NOW) == {}
    await cache.close()
