"""Background maintenance: patient keys and ended snoozes go, comments past retention too.

Store tests run on SQLite and on PostgreSQL (skipped when unreachable), with the storage
tests' fixtures (``conftest.py`` here). Timing tests replace ``asyncio.sleep`` with a sleep
the test releases by hand, so nothing waits for real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cds_hooks.feedback import FeedbackItem
from service.config import AuthMode, Settings
from service.maintenance import (
    CARD_KEY_RETENTION_DAYS,
    DEFAULT_INTERVAL_SECONDS,
    Maintenance,
)
from service.observability.metrics import Metrics
from service.runtime import Runtime
from service.storage import IssuedCard, IssuedResponse, Store, create_store, migrate
from service.storage.models import CardIssued, CardSnooze, FeedbackRecord
from tests.service.storage.conftest import MutableClock

pytestmark = pytest.mark.anyio

TOPIC = "oih-evaluate"
SNOOZE_DAYS = 90
KEY_OLD, KEY_MID, KEY_WEEK, KEY_RECENT = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
STEP_TIMEOUT = 5.0  # only ever reached when the code under test is broken


@pytest.fixture
async def store(database_url: str, clock: MutableClock) -> AsyncIterator[Store]:
    """The storage tests' store, able to snooze (as the service builds it)."""
    await migrate(database_url)
    s = create_store(database_url, clock=clock, snooze_days=SNOOZE_DAYS)
    try:
        yield s
    finally:
        await s.close()


def card_uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def issue(store: Store, n: int, key: str) -> None:
    card = IssuedCard(card_uuid(n), TOPIC, "warning", key, f"suggestion-{n}")
    await store.record_responses([IssuedResponse("svc", f"hook-{n}", (card,), None, None)])


async def snooze(store: Store, n: int, at: datetime) -> None:
    item = FeedbackItem.model_validate(
        {
            "card": card_uuid(n),
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": f"suggestion-{n}"}],
            "outcomeTimestamp": at.isoformat(),
        }
    )
    assert await store.store_feedback("svc", [item], None, None) == 1


async def override(store: Store, n: int, at: datetime, comment: str) -> None:
    item = FeedbackItem.model_validate(
        {
            "card": card_uuid(n),
            "outcome": "overridden",
            "outcomeTimestamp": at.isoformat(),
            "overrideReason": {
                "reason": {"system": "urn:x", "code": "disagree"},
                "userComment": comment,
            },
        }
    )
    assert await store.store_feedback("svc", [item], None, None) == 1


async def card_keys(store: Store) -> dict[str, str | None]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(CardIssued.card_uuid, CardIssued.patient_key))
        return dict(rows.all())


async def snoozed_cards(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(CardSnooze.card_uuid).order_by(CardSnooze.card_uuid))
        return list(found.scalars())


async def comments(store: Store) -> dict[str, tuple[str | None, str | None]]:
    """card -> (comment, coded override reason)."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(
                FeedbackRecord.card_uuid,
                FeedbackRecord.user_comment,
                FeedbackRecord.override_code,
            )
        )
        return {card: (comment, code) for card, comment, code in rows.all()}


# --- what one run does, on a real database -----------------------------------------------------


async def test_a_run_forgets_old_card_keys_and_ended_snoozes_and_keeps_the_rest(
    store: Store, clock: MutableClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = clock.now
    await issue(store, 1, KEY_OLD)
    await snooze(store, 1, start)  # ends at day 90
    clock.advance(days=60)
    await issue(store, 2, KEY_MID)
    await snooze(store, 2, clock.now)  # ends at day 150
    clock.now = start + timedelta(days=93)
    await issue(store, 3, KEY_WEEK)  # 8 days old at the run: past the 7 days
    clock.now = start + timedelta(days=95)
    await issue(store, 4, KEY_RECENT)  # 6 days old at the run: feedback may still come
    clock.now = start + timedelta(days=101)

    maintenance = Maintenance(store, clock)
    with caplog.at_level(logging.INFO, logger="service.maintenance"):
        run = await maintenance.run_once()

    assert CARD_KEY_RETENTION_DAYS == 7
    assert (run.card_keys_cleared, run.snoozes_deleted, run.comments_blanked) == (3, 1, None)
    assert run.ok
    assert await card_keys(store) == {
        card_uuid(1): None,
        card_uuid(2): None,
        card_uuid(3): None,
        card_uuid(4): KEY_RECENT,
    }
    assert await snoozed_cards(store) == [card_uuid(2)]
    # The active snooze is still honoured: the cache reloads it from the store.
    assert list(await store.all_active_snoozes(clock.now)) == [KEY_MID]
    # One INFO line with counts, and no key anywhere in the log.
    (line,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert line.getMessage() == (
        "maintenance: 3 card patient key(s) cleared, 1 ended snooze(s) deleted, "
        "comments kept (no retention set)"
    )
    for key in (KEY_OLD, KEY_MID, KEY_WEEK, KEY_RECENT):
        assert key not in caplog.text

    # Idempotent: a second run (another replica, or the next interval) changes nothing.
    again = await maintenance.run_once()
    assert (again.card_keys_cleared, again.snoozes_deleted) == (0, 0)
    assert await card_keys(store) == {
        card_uuid(1): None,
        card_uuid(2): None,
        card_uuid(3): None,
        card_uuid(4): KEY_RECENT,
    }


async def test_concurrent_runs_from_two_replicas_agree(
    store: Store, database_url: str, clock: MutableClock
) -> None:
    """Two replicas: two stores (two engines, no shared in-process lock) on one database."""
    await issue(store, 1, KEY_OLD)
    await snooze(store, 1, clock.now)
    clock.advance(days=SNOOZE_DAYS + 1)
    await issue(store, 2, KEY_RECENT)
    other = create_store(database_url, clock=clock, snooze_days=SNOOZE_DAYS)
    try:
        replicas = [Maintenance(store, clock), Maintenance(other, clock)]
        runs = await asyncio.gather(*(m.run_once() for m in replicas))
    finally:
        await other.close()
    assert all(run.ok for run in runs)
    assert sum(run.card_keys_cleared or 0 for run in runs) == 1
    assert sum(run.snoozes_deleted or 0 for run in runs) == 1
    assert await card_keys(store) == {card_uuid(1): None, card_uuid(2): KEY_RECENT}
    assert await snoozed_cards(store) == []


async def test_comments_are_kept_without_retention_and_blanked_past_it(
    store: Store, clock: MutableClock
) -> None:
    start = clock.now
    await override(store, 1, start, "old comment")
    clock.advance(days=20)
    await override(store, 2, clock.now, "recent comment")
    clock.now = start + timedelta(days=30)

    kept = await Maintenance(store, clock).run_once()
    assert kept.ok
    assert kept.comments_blanked is None
    assert await comments(store) == {
        card_uuid(1): ("old comment", "disagree"),
        card_uuid(2): ("recent comment", "disagree"),
    }

    blanked = await Maintenance(store, clock, comment_retention_days=14).run_once()
    assert blanked.ok
    assert blanked.comments_blanked == 1
    # Only the comment goes; the coded reason stays, so the feedback report is unchanged.
    assert await comments(store) == {
        card_uuid(1): (None, "disagree"),
        card_uuid(2): ("recent comment", "disagree"),
    }


# --- the timer, failures and shutdown, with a fake store and a hand-released sleep -------------


class ManualSleep:
    """Stands in for ``asyncio.sleep``: records each request, returns when the test says."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._asked: asyncio.Queue[float] = asyncio.Queue()
        self._wake: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        self._asked.put_nowait(seconds)
        await self._wake.get()

    async def next_request(self) -> float:
        """The next sleep the loop asks for (so the run before it has finished)."""
        return await asyncio.wait_for(self._asked.get(), STEP_TIMEOUT)

    def wake(self) -> None:
        self._wake.put_nowait(None)


class FakeStore:
    """Counts purges; fails (with a message that must not be logged) or blocks when told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.fail = False
        self.block: asyncio.Event | None = None

    async def _step(self, name: str, cutoff: datetime) -> None:
        self.calls.append((name, cutoff))
        if self.block is not None:
            await self.block.wait()
        if self.fail:
            raise ConnectionError(f"connection lost while clearing {KEY_OLD}")

    async def purge_patient_keys(self, issued_before: datetime, now: datetime) -> tuple[int, int]:
        await self._step("keys", issued_before)
        return 2, 1

    async def purge_user_comments(self, received_before: datetime) -> int:
        await self._step("comments", received_before)
        return 4


def counter(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def timed(
    store: FakeStore, clock: MutableClock, sleep: ManualSleep, metrics: Metrics, **kwargs: Any
) -> Maintenance:
    return Maintenance(
        store,
        clock,
        sleep=sleep,
        on_run=metrics.maintenance_runs.inc,
        on_error=metrics.maintenance_errors.inc,
        **kwargs,
    )


async def test_first_run_shortly_after_start_then_every_interval(clock: MutableClock) -> None:
    store, sleep, metrics = FakeStore(), ManualSleep(), Metrics()
    maintenance = timed(store, clock, sleep, metrics, interval_seconds=120, first_delay_seconds=30)
    maintenance.start()
    try:
        assert await sleep.next_request() == 30
        assert store.calls == []  # nothing before the first delay has passed
        for runs in (1, 2, 3):
            clock.advance(seconds=120)
            sleep.wake()
            assert await sleep.next_request() == 120
            assert [name for name, _ in store.calls] == ["keys"] * runs
            assert counter(metrics, "oih_cds_maintenance_runs_total") == runs
        # Each run computes its cutoff from the clock at that run.
        assert store.calls[-1][1] == clock.now - timedelta(days=CARD_KEY_RETENTION_DAYS)
        assert sleep.requested == [30, 120, 120, 120]
        assert counter(metrics, "oih_cds_maintenance_errors_total") == 0
    finally:
        await maintenance.close()


async def test_a_failing_store_is_counted_and_the_loop_keeps_going(
    clock: MutableClock, caplog: pytest.LogCaptureFixture
) -> None:
    store, sleep, metrics = FakeStore(), ManualSleep(), Metrics()
    maintenance = timed(store, clock, sleep, metrics, comment_retention_days=30)
    store.fail = True
    maintenance.start()
    try:
        await sleep.next_request()
        with caplog.at_level(logging.INFO, logger="service.maintenance"):
            sleep.wake()
            assert await sleep.next_request() == DEFAULT_INTERVAL_SECONDS  # still looping
        # Both steps were tried (one failing does not skip the other) and both counted.
        assert [name for name, _ in store.calls] == ["keys", "comments"]
        assert counter(metrics, "oih_cds_maintenance_errors_total") == 2
        assert counter(metrics, "oih_cds_maintenance_runs_total") == 0
        assert "maintenance of patient keys failed (ConnectionError)" in caplog.text
        assert "maintenance of feedback comments failed (ConnectionError)" in caplog.text
        assert KEY_OLD not in caplog.text  # the driver's message is never logged
        assert not any(r.levelno == logging.INFO for r in caplog.records)

        store.fail = False  # the database is back
        sleep.wake()
        await sleep.next_request()
        assert counter(metrics, "oih_cds_maintenance_runs_total") == 1
        assert counter(metrics, "oih_cds_maintenance_errors_total") == 2
        assert maintenance.running
    finally:
        await maintenance.close()


async def test_close_stops_the_loop_even_in_the_middle_of_a_run(clock: MutableClock) -> None:
    store, sleep, metrics = FakeStore(), ManualSleep(), Metrics()
    maintenance = timed(store, clock, sleep, metrics)
    maintenance.start()
    await sleep.next_request()
    store.block = asyncio.Event()  # the next run hangs in the database
    sleep.wake()
    for _ in range(100):
        if store.calls:
            break
        await asyncio.sleep(0)
    assert len(store.calls) == 1
    assert maintenance.running

    await asyncio.wait_for(maintenance.close(), STEP_TIMEOUT)
    assert not maintenance.running
    store.block.set()
    sleep.wake()
    await asyncio.sleep(0)
    assert len(store.calls) == 1  # no further run
    assert counter(metrics, "oih_cds_maintenance_runs_total") == 0
    await maintenance.close()  # closing twice is harmless


async def test_interval_zero_turns_it_off(
    clock: MutableClock, caplog: pytest.LogCaptureFixture
) -> None:
    store, sleep, metrics = FakeStore(), ManualSleep(), Metrics()
    maintenance = timed(store, clock, sleep, metrics, interval_seconds=0)
    with caplog.at_level(logging.WARNING, logger="service.maintenance"):
        maintenance.start()
    assert not maintenance.running
    assert sleep.requested == []
    assert "maintenance is off" in caplog.text
    await maintenance.close()


# --- wiring: the runtime starts it with the settings and stops it on close ---------------------


@pytest.mark.parametrize("retention", [None, 30])
async def test_runtime_starts_and_stops_maintenance(
    tmp_path: Path, clock: MutableClock, retention: int | None
) -> None:
    settings = Settings(
        auth_mode=AuthMode.DISABLED,
        data_dir=tmp_path,
        comment_retention_days=retention,
        _env_file=None,
    )
    runtime = Runtime(settings, clock)
    await runtime.start()
    try:
        assert runtime.maintenance is not None
        assert runtime.maintenance.running
        run = await runtime.maintenance.run_once()  # on the runtime's own SQLite store
        assert run.ok
        assert run.comments_blanked == (None if retention is None else 0)
        text = runtime.metrics.render().decode()
        assert "oih_cds_maintenance_runs_total 1.0" in text
        assert "oih_cds_maintenance_errors_total 0.0" in text
    finally:
        await runtime.close()
    assert not runtime.maintenance.running


async def test_runtime_without_maintenance(tmp_path: Path, clock: MutableClock) -> None:
    settings = Settings(
        auth_mode=AuthMode.DISABLED,
        data_dir=tmp_path,
        maintenance_interval_seconds=0,
        _env_file=None,
    )
    runtime = Runtime(settings, clock)
    await runtime.start()
    try:
        assert runtime.maintenance is not None
        assert not runtime.maintenance.running
    finally:
        await runtime.close()
