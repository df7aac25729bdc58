"""Many clients posting at once, with duplicates, must leave each distinct item stored once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cds_hooks.feedback import FeedbackItem
from service.storage import IssuedCard, IssuedResponse, create_store, idempotency_key, migrate
from service.storage.models import CardIssued, FeedbackRecord
from tests.service.storage.conftest import MutableClock

pytestmark = pytest.mark.anyio

POSTS = 200
DISTINCT = 60
T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def distinct_items(rng: random.Random) -> list[FeedbackItem]:
    cards = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(DISTINCT // 2)]
    items: list[FeedbackItem] = []
    for n in range(DISTINCT):
        card = cards[n // 2]  # two items per card: one overridden, one accepted
        at = (T0 + timedelta(seconds=n)).isoformat()
        body: dict[str, Any]
        if n % 2:
            body = {
                "card": card,
                "outcome": "accepted",
                "outcomeTimestamp": at,
                "acceptedSuggestions": [{"id": f"s{n}"}],
            }
        else:
            body = {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": at,
                "overrideReason": {"reason": {"system": "urn:r", "code": f"r{n % 3}"}},
            }
        items.append(FeedbackItem.model_validate(body))
    return items


async def test_200_concurrent_posts_store_exactly_the_distinct_items(
    database_url: str, clock: MutableClock
) -> None:
    """Two stores (two workers/replicas) share the database; batches overlap in random
    order, so this also exercises lock ordering (no deadlock) on PostgreSQL and the busy
    timeout between processes on SQLite."""
    rng = random.Random(20260115)
    items = distinct_items(rng)
    batches = [[items[i]] for i in range(DISTINCT)]  # every item at least once
    while len(batches) < POSTS:
        batches.append(rng.sample(items, rng.randint(1, 4)))  # duplicates, random order
    rng.shuffle(batches)

    await migrate(database_url)
    workers = [create_store(database_url, clock=clock) for _ in range(2)]
    try:
        cards = sorted({item.card for item in items})
        results = await asyncio.gather(
            *(
                workers[n % 2].store_feedback("svc", batch, "https://ehr.example", None)
                for n, batch in enumerate(batches)
            ),
            *(
                workers[n % 2].record_responses(
                    [
                        IssuedResponse(
                            "svc", f"hook-{n}", (IssuedCard(card, "topic", "info"),), None, None
                        )
                    ]
                )
                for n, card in enumerate(cards)
            ),
        )
        stored = results[:POSTS]
        assert sum(stored) == DISTINCT
        assert sum(results[POSTS:]) == len(cards)

        async with workers[0].engine.connect() as conn:
            keys = (await conn.execute(select(FeedbackRecord.idempotency_key))).scalars().all()
            card_rows = await conn.scalar(select(func.count()).select_from(CardIssued))
        assert sorted(keys) == sorted(idempotency_key(item) for item in items)
        assert card_rows == len(cards)

        (report,) = await workers[1].report(None)
        assert (report.topic, report.shown) == ("topic", len(cards))
        assert report.accepted == report.overridden == len(cards)
    finally:
        for worker in workers:
            await worker.close()


async def test_mirror_image_batches_do_not_deadlock(database_url: str, clock: MutableClock) -> None:
    """The same two items sent at once in opposite orders (a re-sent batch). Inserting in
    arrival order would deadlock on PostgreSQL; the store inserts in key order."""
    rng = random.Random(7)
    await migrate(database_url)
    workers = [create_store(database_url, clock=clock) for _ in range(2)]
    try:
        pairs = [distinct_items(rng)[:2] for _ in range(20)]
        results = await asyncio.gather(
            *(workers[0].store_feedback("svc", [a, b], None, None) for a, b in pairs),
            *(workers[1].store_feedback("svc", [b, a], None, None) for a, b in pairs),
        )
        assert sum(results) == 2 * len(pairs)
    finally:
        for worker in workers:
            await worker.close()
