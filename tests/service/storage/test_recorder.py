"""CardRecorder: batches issued-card records, flushes on demand, bounds its queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from service.storage import IssuedCard, IssuedResponse, Store
from service.storage.models import CardIssued
from service.storage.recorder import CardRecorder

pytestmark = pytest.mark.anyio


def response(n: int, cards: int = 2) -> IssuedResponse:
    return IssuedResponse(
        "oih-order-sign",
        f"hook-{n}",
        tuple(
            IssuedCard(f"00000000-0000-4000-8000-{n:06d}{i:06d}", "t", "info") for i in range(cards)
        ),
        None,
        None,
    )


class Writes:
    """A writer that remembers every batch it was given, and can be told to fail."""

    def __init__(self) -> None:
        self.batches: list[list[IssuedResponse]] = []
        self.fail = False

    async def __call__(self, batch: Sequence[IssuedResponse]) -> int:
        if self.fail:
            raise RuntimeError("database is down")
        self.batches.append(list(batch))
        return sum(len(r.cards) for r in batch)


async def test_responses_within_the_linger_share_one_write() -> None:
    writes = Writes()
    recorder = CardRecorder(writes, linger=0.05)
    for n in range(20):
        recorder.submit(response(n))
    assert writes.batches == []  # nothing is written on the response path
    await asyncio.sleep(0.2)
    assert [len(b) for b in writes.batches] == [20]
    assert recorder.queued_cards == 0


async def test_flush_writes_at_once_without_waiting_for_the_linger() -> None:
    writes = Writes()
    recorder = CardRecorder(writes, linger=60)
    recorder.submit(response(1))
    recorder.submit(response(2))
    await asyncio.wait_for(recorder.flush(), timeout=2)
    assert [[r.hook_instance for r in b] for b in writes.batches] == [["hook-1", "hook-2"]]
    await recorder.flush()  # nothing queued: returns at once
    assert len(writes.batches) == 1


async def test_flush_does_not_wait_for_records_submitted_after_it() -> None:
    """Under steady traffic the queue never empties; storing feedback must still proceed."""
    gate = asyncio.Event()
    batches: list[list[str]] = []

    async def slow_write(batch: Sequence[IssuedResponse]) -> int:
        batches.append([r.hook_instance for r in batch])
        await gate.wait()
        return 0

    recorder = CardRecorder(slow_write, linger=60)
    recorder.submit(response(1))
    flushing = asyncio.create_task(recorder.flush())
    await asyncio.sleep(0.01)  # the first batch is being written
    recorder.submit(response(2))  # arrives after the flush began
    gate.set()
    await asyncio.wait_for(flushing, timeout=2)
    assert batches == [["hook-1"]]
    assert recorder.queued_cards == 2  # hook-2 waits for its own batch


async def test_a_full_queue_drops_and_counts_instead_of_growing() -> None:
    writes, dropped = Writes(), list[int]()
    recorder = CardRecorder(writes, linger=60, max_queued_cards=5, on_dropped=dropped.append)
    recorder.submit(response(1))  # 2 cards
    recorder.submit(response(2))  # 4
    recorder.submit(response(3))  # would be 6: dropped
    assert dropped == [2]
    assert recorder.queued_cards == 4
    await recorder.flush()
    assert [r.hook_instance for r in writes.batches[0]] == ["hook-1", "hook-2"]


async def test_a_failed_write_is_counted_and_later_records_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writes, dropped = Writes(), list[int]()
    recorder = CardRecorder(writes, linger=60, on_dropped=dropped.append)
    writes.fail = True
    recorder.submit(response(1, cards=3))
    with caplog.at_level(logging.ERROR):
        await recorder.flush()
    assert dropped == [3]
    assert "could not record issued cards" in caplog.text
    writes.fail = False
    recorder.submit(response(2))
    await recorder.flush()
    assert [r.hook_instance for r in writes.batches[0]] == ["hook-2"]


async def test_a_response_without_cards_is_not_queued() -> None:
    writes = Writes()
    recorder = CardRecorder(writes, linger=60)
    recorder.submit(response(1, cards=0))
    await recorder.flush()
    assert writes.batches == []


async def test_batches_reach_the_database_in_one_transaction(store: Store) -> None:
    recorder = CardRecorder(store.record_responses, linger=60)
    for n in range(150):  # 300 rows: more than one statement's worth
        recorder.submit(response(n))
    recorder.submit(response(0))  # a duplicate response: stored once
    await recorder.flush()
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CardIssued)) == 300
