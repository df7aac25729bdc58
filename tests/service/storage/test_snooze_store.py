"""Snoozes in the store, on SQLite and PostgreSQL: created by feedback, found by patient key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cds_hooks.feedback import FeedbackItem
from service.storage import IssuedCard, IssuedResponse, Store, create_store, migrate
from service.storage.models import CardIssued, CardSnooze
from tests.service.storage.conftest import MutableClock

pytestmark = pytest.mark.anyio

CARD = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
OTHER_CARD = "f6b95768-b1c8-40dc-8385-bf3504b82ffb"
SNOOZE_SUGGESTION = "0b6f3c9e-5a43-4d57-9f0e-1d2c3b4a5f60"
OTHER_SUGGESTION = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
KEY = "a" * 64
OTHER_KEY = "b" * 64
TOPIC = "oih-evaluate"
DAYS = 90


@pytest.fixture
async def store(database_url: str, clock: MutableClock) -> AsyncIterator[Store]:
    await migrate(database_url)
    s = create_store(database_url, clock=clock, snooze_days=DAYS)
    try:
        yield s
    finally:
        await s.close()


async def issue(
    store: Store,
    card: str = CARD,
    key: str | None = KEY,
    suggestion: str | None = SNOOZE_SUGGESTION,
) -> None:
    issued = IssuedCard(card, TOPIC, "warning", key, suggestion)
    await store.record_responses([IssuedResponse("svc", "hook-1", (issued,), "iss", "t")])


def accepted(
    at: datetime, *suggestions: str, card: str = CARD, outcome: str = "accepted"
) -> FeedbackItem:
    body: dict[str, Any] = {"card": card, "outcome": outcome, "outcomeTimestamp": at.isoformat()}
    if outcome == "accepted":
        body["acceptedSuggestions"] = [{"id": s} for s in suggestions]
    else:
        body["overrideReason"] = {"reason": {"system": "urn:x", "code": "disagree"}}
    return FeedbackItem.model_validate(body)


async def active(store: Store, key: str, topics: list[str], now: datetime) -> dict[str, datetime]:
    """What the snooze cache answers for one patient, from the store's full snapshot."""
    found = (await store.all_active_snoozes(now)).get(key, {})
    return {topic: found[topic] for topic in topics if topic in found}


async def snooze_count(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(CardSnooze))).scalar_one())


async def test_accepting_the_snoozing_suggestion_snoozes_the_topic(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)
    at = clock.now - timedelta(minutes=5)
    await store.store_feedback("svc", [accepted(at, SNOOZE_SUGGESTION)], "iss", "t")
    found = await active(store, KEY, [TOPIC], clock.now)
    assert found == {TOPIC: at + timedelta(days=DAYS)}
    assert found[TOPIC].tzinfo is not None


async def test_suggestion_ids_are_compared_without_case(store: Store, clock: MutableClock) -> None:
    await issue(store)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION.upper())], None, None)
    assert TOPIC in await active(store, KEY, [TOPIC], clock.now)


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(lambda t: accepted(t, OTHER_SUGGESTION), id="another-suggestion"),
        pytest.param(lambda t: accepted(t, outcome="overridden"), id="overridden"),
        pytest.param(lambda t: accepted(t, SNOOZE_SUGGESTION, card=OTHER_CARD), id="unknown-card"),
    ],
)
async def test_other_feedback_snoozes_nothing(store: Store, clock: MutableClock, item: Any) -> None:
    await issue(store)
    assert await store.store_feedback("svc", [item(clock.now)], None, None) == 1
    assert await active(store, KEY, [TOPIC], clock.now) == {}
    assert await snooze_count(store) == 0


async def test_a_card_recorded_without_a_patient_key_cannot_be_snoozed(
    store: Store, clock: MutableClock
) -> None:
    await issue(store, key=None)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    assert await snooze_count(store) == 0


async def test_a_store_without_snooze_days_creates_none(
    database_url: str, clock: MutableClock
) -> None:
    await migrate(database_url)
    plain = create_store(database_url, clock=clock)
    try:
        await issue(plain)
        await plain.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
        assert await snooze_count(plain) == 0
    finally:
        await plain.close()


async def test_snoozes_belong_to_one_patient_and_one_topic(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    assert await active(store, OTHER_KEY, [TOPIC], clock.now) == {}
    assert await active(store, KEY, ["avoid-escalation"], clock.now) == {}
    assert await active(store, KEY, [], clock.now) == {}


async def test_the_snapshot_holds_every_active_snooze_by_patient(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)
    await issue(store, card=OTHER_CARD, key=OTHER_KEY, suggestion=OTHER_SUGGESTION)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    clock.advance(days=1)
    other = accepted(clock.now, OTHER_SUGGESTION, card=OTHER_CARD)
    await store.store_feedback("svc", [other], None, None)
    end = clock.now + timedelta(days=DAYS)
    assert await store.all_active_snoozes(clock.now) == {
        KEY: {TOPIC: end - timedelta(days=1)},
        OTHER_KEY: {TOPIC: end},
    }
    assert await store.all_active_snoozes(end - timedelta(days=1)) == {OTHER_KEY: {TOPIC: end}}


async def test_a_snooze_ends_after_its_days(store: Store, clock: MutableClock) -> None:
    await issue(store)
    start = clock.now
    await store.store_feedback("svc", [accepted(start, SNOOZE_SUGGESTION)], None, None)
    end = start + timedelta(days=DAYS)
    assert TOPIC in await active(store, KEY, [TOPIC], end - timedelta(seconds=1))
    assert await active(store, KEY, [TOPIC], end) == {}


async def test_resent_feedback_does_not_extend_a_snooze(store: Store, clock: MutableClock) -> None:
    await issue(store)
    first = clock.now
    await store.store_feedback("svc", [accepted(first, SNOOZE_SUGGESTION)], None, None)
    clock.advance(days=30)
    later = accepted(clock.now, SNOOZE_SUGGESTION)  # a new timestamp: a new feedback item
    assert await store.store_feedback("svc", [later], None, None) == 1
    assert await active(store, KEY, [TOPIC], clock.now) == {TOPIC: first + timedelta(days=DAYS)}
    assert await snooze_count(store) == 1


async def test_a_client_clock_in_the_future_does_not_lengthen_the_snooze(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)
    await store.store_feedback(
        "svc", [accepted(clock.now + timedelta(days=10), SNOOZE_SUGGESTION)], None, None
    )
    assert await active(store, KEY, [TOPIC], clock.now) == {TOPIC: clock.now + timedelta(days=DAYS)}


async def test_the_latest_of_several_snoozes_counts(store: Store, clock: MutableClock) -> None:
    await issue(store)
    await issue(store, card=OTHER_CARD, suggestion=OTHER_SUGGESTION)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    clock.advance(days=20)
    second = accepted(clock.now, OTHER_SUGGESTION, card=OTHER_CARD)
    await store.store_feedback("svc", [second], None, None)
    assert await active(store, KEY, [TOPIC], clock.now) == {TOPIC: clock.now + timedelta(days=DAYS)}


async def test_purge_forgets_old_card_keys_and_expired_snoozes(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)  # snoozed below: its snooze must survive until it ends
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    clock.advance(days=2)
    await issue(store, card=OTHER_CARD, suggestion=OTHER_SUGGESTION)  # recent: keeps its key
    cleared, deleted = await store.purge_patient_keys(clock.now - timedelta(days=1), clock.now)
    assert (cleared, deleted) == (1, 0)
    async with store.engine.connect() as conn:
        keys = dict(
            (await conn.execute(select(CardIssued.card_uuid, CardIssued.patient_key))).all()
        )
    assert keys == {CARD: None, OTHER_CARD: KEY}
    assert TOPIC in await active(store, KEY, [TOPIC], clock.now)

    after = clock.now + timedelta(days=DAYS)
    assert await store.purge_patient_keys(after, after) == (1, 1)
    assert await snooze_count(store) == 0


async def test_clearing_one_patients_snoozes_keeps_the_others_and_the_feedback(
    store: Store, clock: MutableClock
) -> None:
    await issue(store)
    await issue(store, card=OTHER_CARD, key=OTHER_KEY, suggestion=OTHER_SUGGESTION)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    other = accepted(clock.now, OTHER_SUGGESTION, card=OTHER_CARD)
    await store.store_feedback("svc", [other], None, None)
    assert await snooze_count(store) == 2

    assert await store.clear_snoozes(KEY) == 1
    assert await active(store, KEY, [TOPIC], clock.now) == {}
    assert TOPIC in await active(store, OTHER_KEY, [TOPIC], clock.now)
    (report,) = await store.report(None)
    assert report.accepted == 2  # the feedback stays
    assert await store.clear_snoozes(KEY) == 0


async def test_resent_feedback_does_not_bring_a_cleared_snooze_back(
    store: Store, clock: MutableClock
) -> None:
    """EHRs retry feedback: support's undo must not be reversed by the same item again."""
    await issue(store)
    item = accepted(clock.now, SNOOZE_SUGGESTION)
    await store.store_feedback("svc", [item], None, None)
    assert await store.clear_snoozes(KEY) == 1
    clock.advance(minutes=5)
    await store.store_feedback("svc", [item], None, None)
    await store.store_feedback("svc", [accepted(clock.now, SNOOZE_SUGGESTION)], None, None)
    assert await snooze_count(store) == 0
    assert await active(store, KEY, [TOPIC], clock.now) == {}
