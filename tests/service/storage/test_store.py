"""The store on SQLite and PostgreSQL: idempotency, topic join, report, privacy, health."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from cds_hooks.feedback import FeedbackItem
from cds_hooks.models import Card, Coding, Indicator, Source
from service.storage import (
    IssuedCard,
    IssuedResponse,
    Store,
    create_store,
    idempotency_key,
    migrate,
)
from service.storage.models import CardIssued, FeedbackRecord
from tests.service.storage.conftest import MutableClock

pytestmark = pytest.mark.anyio

SYSTEM = "https://oih.example/override-reason"
CARD_A = "4e0a3a1e-3283-4575-ab82-028d55fe2719"
CARD_B = "f6b95768-b1c8-40dc-8385-bf3504b82ffb"
CARD_C = "9368d37b-283f-44a0-93ea-547cebab93ed"
UNKNOWN = "aaaaaaaa-0000-4000-8000-00000000ffff"
T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def fb(
    card: str = CARD_A, outcome: str = "overridden", at: datetime = T0, **kw: Any
) -> FeedbackItem:
    body: dict[str, Any] = {"card": card, "outcome": outcome, "outcomeTimestamp": at.isoformat()}
    if outcome == "accepted":
        body.setdefault("acceptedSuggestions", [{"id": "sugg-1"}])
    body.update(kw)
    return FeedbackItem.model_validate(body)


def reason(code: str, display: str | None = None, comment: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": SYSTEM, "code": code}
    if display:
        coding["display"] = display
    out: dict[str, Any] = {"reason": coding}
    if comment:
        out["userComment"] = comment
    return out


async def rows(store: Store) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(FeedbackRecord).order_by(FeedbackRecord.id))).all())


async def issue(store: Store, *cards: tuple[str, str | None], hook: str = "hi-1") -> int:
    issued = [IssuedCard(uuid, topic, "warning") for uuid, topic in cards]
    return await store.record_responses(
        [IssuedResponse("oih-order-sign", hook, tuple(issued), "https://ehr.example", "t1")]
    )


# --------------------------------------------------------------------------- idempotency


async def test_the_same_item_is_stored_once(store: Store) -> None:
    item = fb(overrideReason=reason("c1"))
    assert await store.store_feedback("svc", [item, item], "iss", None) == 1
    assert await store.store_feedback("svc", [item], "iss", None) == 0
    again = fb(overrideReason=reason("c1"), at=T0.astimezone(UTC).replace(tzinfo=UTC))
    assert await store.store_feedback("svc", [again], "iss", None) == 0
    assert len(await rows(store)) == 1


async def test_an_equal_instant_in_another_offset_is_the_same_item(store: Store) -> None:
    utc = fb(at=T0)
    plus2 = FeedbackItem.model_validate(
        {"card": CARD_A, "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:00:00+02:00"}
    )
    assert idempotency_key(utc) == idempotency_key(plus2)
    assert await store.store_feedback("svc", [utc, plus2], None, None) == 1


async def test_items_that_differ_are_all_stored(store: Store) -> None:
    items = [
        fb(),
        fb(at=T0 + timedelta(seconds=1)),
        fb(overrideReason=reason("c1")),
        fb(overrideReason=reason("c2")),
        fb(outcome="accepted"),
        fb(outcome="accepted", acceptedSuggestions=[{"id": "sugg-2"}]),
        fb(card=CARD_B),
    ]
    assert len({idempotency_key(i) for i in items}) == len(items)
    assert await store.store_feedback("svc", items, None, None) == len(items)
    assert len(await rows(store)) == len(items)


async def test_accepted_suggestion_order_does_not_matter(store: Store) -> None:
    one = fb(outcome="accepted", acceptedSuggestions=[{"id": "a"}, {"id": "b"}])
    two = fb(outcome="accepted", acceptedSuggestions=[{"id": "b"}, {"id": "a"}])
    assert idempotency_key(one) == idempotency_key(two)


async def test_empty_batch_stores_nothing(store: Store) -> None:
    assert await store.store_feedback("svc", [], None, None) == 0
    assert await store.record_responses([IssuedResponse("svc", "hi", (), None, None)]) == 0


# --------------------------------------------------------------------------- stored columns


async def test_feedback_row_has_every_field(store: Store, clock: MutableClock) -> None:
    await issue(store, (CARD_A, "oih-rising-dose-pain"))
    item = fb(
        outcome="accepted",
        acceptedSuggestions=[{"id": "s-2"}, {"id": "s-1"}],
        overrideReason=reason("c1", "Benefit outweighs risk", "see note"),
    )
    clock.advance(minutes=5)
    await store.store_feedback("oih-order-sign", [item], "https://ehr.example", "tenant-9")
    (row,) = await rows(store)
    record = row
    assert record.card_uuid == CARD_A
    assert record.service_id == "oih-order-sign"
    assert record.topic_code == "oih-rising-dose-pain"
    assert record.outcome == "accepted"
    assert record.accepted_suggestions == ["s-2", "s-1"]
    assert (record.override_system, record.override_code, record.override_display) == (
        SYSTEM,
        "c1",
        "Benefit outweighs risk",
    )
    assert record.user_comment == "see note"
    assert record.outcome_at == T0
    assert record.outcome_at.tzinfo is not None
    assert record.received_at == clock.now
    assert (record.issuer, record.tenant) == ("https://ehr.example", "tenant-9")
    assert record.idempotency_key == idempotency_key(item)


async def test_user_comments_can_be_dropped(database_url: str, clock: MutableClock) -> None:
    await migrate(database_url)
    store = create_store(database_url, clock=clock, keep_user_comments=False)
    try:
        await store.store_feedback(
            "svc", [fb(overrideReason=reason("c1", comment="PHI"))], None, None
        )
        (row,) = await rows(store)
        assert row.user_comment is None
        assert row.override_code == "c1"
    finally:
        await store.close()


async def test_old_user_comments_are_purged_and_the_rest_is_kept(
    store: Store, clock: MutableClock
) -> None:
    await store.store_feedback(
        "svc", [fb(card=CARD_A, overrideReason=reason("c1", comment="old PHI"))], None, None
    )
    await store.store_feedback("svc", [fb(card=CARD_B, overrideReason=reason("c2"))], None, None)
    clock.advance(days=40)
    await store.store_feedback(
        "svc", [fb(card=CARD_C, overrideReason=reason("c3", comment="new"))], None, None
    )
    report_before = await store.report(None)
    assert await store.purge_user_comments(clock.now - timedelta(days=30)) == 1
    by_card = {row.card_uuid: row for row in await rows(store)}
    assert by_card[CARD_A].user_comment is None
    assert by_card[CARD_A].override_code == "c1"  # the coded reason stays
    assert by_card[CARD_C].user_comment == "new"
    assert await store.report(None) == report_before
    assert await store.purge_user_comments(clock.now - timedelta(days=30)) == 0


async def test_user_comment_is_never_logged(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Even at DEBUG (SQLAlchemy echo, aiosqlite's statement log) the comment stays out."""
    secret = "Mrs Smith, DOB 1950-02-03, declined"
    assert store.engine.sync_engine.hide_parameters is True  # also keeps it out of exceptions
    with caplog.at_level(logging.DEBUG):
        await store.store_feedback("svc", [fb(overrideReason={"userComment": secret})], None, None)
    assert caplog.records, "the store should log the batch (counts only)"
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.__dict__)


async def test_long_client_values_are_not_rejected(store: Store) -> None:
    long = "x" * 5000
    item = fb(overrideReason={"reason": {"system": long, "code": long, "display": long}})
    assert await store.store_feedback("svc", [item], long, long) == 1


async def test_no_patient_identifier_columns(store: Store) -> None:
    """Only the keyed pseudonym ``patient_key`` (service/patient_key.py) names a patient."""
    async with store.engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {
                t: [col["name"] for col in inspect(c).get_columns(t)]
                for t in inspect(c).get_table_names()
            }
        )
    assert set(columns) >= {"card_issued", "feedback", "card_snooze"}
    for names in columns.values():
        for name in names:
            if name == "patient_key":
                continue
            assert not any(word in name for word in ("patient", "subject", "mrn", "encounter"))


# --------------------------------------------------------------------------- cards and join


async def test_record_cards_is_idempotent(store: Store) -> None:
    assert await issue(store, (CARD_A, "t1"), (CARD_B, "t2")) == 2
    assert await issue(store, (CARD_A, "t1"), (CARD_C, "t1")) == 1
    async with store.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(CardIssued)) == 3


async def test_issued_card_from_a_response_card() -> None:
    card = Card(
        summary="Rising opioid dose with rising pain",
        indicator=Indicator.WARNING,
        source=Source(label="oih-cds", topic=Coding(system="urn:oih", code="oih-pattern")),
    )
    (issued,) = IssuedCard.from_cards([card])
    assert issued == IssuedCard(card.uuid, "oih-pattern", "warning")


async def test_record_cards_stores_what_joins_feedback(store: Store, clock: MutableClock) -> None:
    await issue(store, (CARD_A.upper(), "t1"), hook="hook-instance-7")
    async with store.engine.connect() as conn:
        (card,) = (await conn.execute(select(CardIssued))).all()
    assert card.card_uuid == CARD_A
    assert (card.service_id, card.topic_code, card.indicator) == ("oih-order-sign", "t1", "warning")
    assert (card.hook_instance, card.issuer, card.tenant) == (
        "hook-instance-7",
        "https://ehr.example",
        "t1",
    )
    assert card.created_at == clock.now


async def test_feedback_for_an_unknown_card_has_no_topic(store: Store) -> None:
    await store.store_feedback("svc", [fb(card=UNKNOWN)], None, None)
    (row,) = await rows(store)
    assert row.topic_code is None


async def test_feedback_before_its_card_is_joined_in_the_report(store: Store) -> None:
    await store.store_feedback("svc", [fb(card=CARD_B)], None, None)
    await issue(store, (CARD_B, "late-topic"))
    (report,) = await store.report(None)
    assert (report.topic, report.shown, report.overridden) == ("late-topic", 1, 1)


# --------------------------------------------------------------------------- report


async def test_report_counts_and_top_reasons(store: Store, clock: MutableClock) -> None:
    cards = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 11)]
    await issue(store, *((c, "pattern") for c in cards[:8]), (cards[8], "taper"))
    await store.store_feedback(
        "svc",
        [
            fb(cards[0], "accepted"),
            fb(cards[1], "accepted"),
            fb(cards[1], "accepted", at=T0 + timedelta(minutes=1)),  # same card again
            fb(cards[2], overrideReason=reason("not-opioid")),
            fb(cards[3], overrideReason=reason("not-opioid", "Not on opioids")),
            fb(cards[4], overrideReason=reason("not-opioid")),
            fb(cards[5], overrideReason=reason("palliative", "Palliative care")),
            fb(cards[6], overrideReason={"userComment": "free text only"}),
            fb(cards[7]),
            fb(cards[8], overrideReason=reason("palliative")),
            fb(UNKNOWN, "accepted"),
        ],
        None,
        None,
    )
    reports = {r.topic: r for r in await store.report(None)}
    assert set(reports) == {"pattern", "taper", None}

    pattern = reports["pattern"]
    assert (pattern.shown, pattern.accepted, pattern.overridden) == (8, 2, 6)
    top = [(r.code, r.display, r.count) for r in pattern.top_override_reasons]
    assert top == [
        ("not-opioid", "Not on opioids", 3),  # display from whichever item had one
        (None, None, 2),  # no coded reason (comment only, or nothing)
        ("palliative", "Palliative care", 1),
    ]
    assert pattern.top_override_reasons[0].system == SYSTEM

    taper = reports["taper"]
    assert (taper.shown, taper.accepted, taper.overridden) == (1, 0, 1)
    unknown = reports[None]
    assert (unknown.shown, unknown.accepted, unknown.overridden) == (0, 1, 0)
    assert [r.topic for r in await store.report(None)] == ["pattern", "taper", None]


async def test_report_limits_reasons(store: Store) -> None:
    cards = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 8)]
    await issue(store, *((c, "t") for c in cards))
    await store.store_feedback(
        "svc", [fb(c, overrideReason=reason(f"r{i}")) for i, c in enumerate(cards)], None, None
    )
    (report,) = await store.report(None, top_reasons=3)
    assert [r.code for r in report.top_override_reasons] == ["r0", "r1", "r2"]
    (default,) = await store.report(None)
    assert len(default.top_override_reasons) == 5


async def test_report_since(store: Store, clock: MutableClock) -> None:
    await issue(store, (CARD_A, "t"))
    clock.advance(days=2)
    await issue(store, (CARD_B, "t"), (CARD_C, "t"))
    await store.store_feedback(
        "svc",
        [fb(CARD_A, at=T0 - timedelta(days=1)), fb(CARD_B, "accepted", at=clock.now)],
        None,
        None,
    )
    (everything,) = await store.report(None)
    assert (everything.shown, everything.accepted, everything.overridden) == (3, 1, 1)
    (recent,) = await store.report(clock.now - timedelta(days=1))
    assert (recent.shown, recent.accepted, recent.overridden) == (2, 1, 0)
    assert await store.report(clock.now + timedelta(days=1)) == []
    (naive,) = await store.report((clock.now - timedelta(days=1)).replace(tzinfo=None))
    assert naive == recent  # a naive --since is UTC


async def test_report_of_an_empty_store(store: Store) -> None:
    assert await store.report(None) == []


# --------------------------------------------------------------------------- health


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_ping_is_false_when_the_database_is_unreachable() -> None:
    store = create_store("postgresql://postgres@127.0.0.1:9/nowhere")
    try:
        assert await store.ping() is False
    finally:
        await store.close()


def test_unsupported_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_store("mysql://u@h/db")
