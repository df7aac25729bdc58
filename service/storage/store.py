"""The repository: record issued cards, store feedback idempotently, report per topic."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cds_hooks.feedback import FeedbackItem
from cds_hooks.models import Card
from service.clock import Clock, system_clock
from service.storage.engine import create_engine
from service.storage.models import CardIssued, CardSnooze, FeedbackRecord

log = logging.getLogger(__name__)

DEFAULT_TOP_REASONS = 5


@dataclass(frozen=True)
class IssuedCard:
    """What we remember about a card we returned: enough to join feedback, nothing clinical.

    ``patient_key`` and ``snooze_suggestion`` are set only on cards that offer a snooze
    (see ``CardIssued``).
    """

    uuid: str
    topic_code: str | None
    indicator: str
    patient_key: str | None = None
    snooze_suggestion: str | None = None

    @classmethod
    def from_card(
        cls, card: Card, patient_key: str | None = None, snooze_suggestion: str | None = None
    ) -> IssuedCard:
        topic = card.source.topic
        snoozable = bool(patient_key and snooze_suggestion)  # both, or neither is kept
        return cls(
            uuid=card.uuid.lower(),
            topic_code=topic.code if topic is not None else None,
            indicator=card.indicator.value,
            patient_key=patient_key if snoozable else None,
            snooze_suggestion=snooze_suggestion.lower()
            if snoozable and snooze_suggestion
            else None,
        )

    @classmethod
    def from_cards(
        cls,
        cards: Iterable[Card],
        patient_key: str | None = None,
        snoozing: Mapping[str, str] | None = None,
    ) -> list[IssuedCard]:
        """``snoozing`` maps a card uuid to its snoozing suggestion's uuid."""
        snoozing = snoozing or {}
        return [cls.from_card(card, patient_key, snoozing.get(card.uuid)) for card in cards]


@dataclass(frozen=True, slots=True)
class IssuedResponse:
    """The cards of one hook response, with what identifies the call (no PHI)."""

    service_id: str
    hook_instance: str
    cards: tuple[IssuedCard, ...]
    issuer: str | None
    tenant: str | None


@dataclass(frozen=True)
class ReasonCount:
    system: str | None
    code: str | None
    display: str | None
    count: int


@dataclass(frozen=True)
class TopicReport:
    """Per card topic: cards shown, cards accepted/overridden, most frequent override reasons.

    Counts are of distinct cards, so a card that received several feedback items (for
    example a re-sent batch with new timestamps) counts once per outcome. ``topic`` is
    ``None`` for feedback on cards this store never saw issued.
    """

    topic: str | None
    shown: int
    accepted: int
    overridden: int
    top_override_reasons: list[ReasonCount] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def idempotency_key(item: FeedbackItem) -> str:
    """sha256 over what makes an item distinct; a repeated item gets the same key.

    Fields are JSON-encoded as a list so that no separator can make two items collide.
    The user comment is not part of it: a re-sent item carries the same comment.
    """
    reason = item.overrideReason.reason if item.overrideReason else None
    material = [
        item.card,
        item.outcome,
        item.outcomeTimestamp.astimezone(UTC).isoformat(),
        sorted(item.accepted_suggestion_ids),
        reason.system if reason else None,
        reason.code if reason else None,
    ]
    encoded = json.dumps(material, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class Store:
    """Durable storage of issued cards and clinicians' feedback.

    Writes are idempotent (``INSERT … ON CONFLICT DO NOTHING`` on unique keys), so
    retries and concurrent duplicates are harmless. Rows inside one transaction are
    inserted in key order, so concurrent batches on PostgreSQL cannot deadlock.
    On SQLite, writes from this process are serialised by a lock (SQLite has one
    writer anyway); other processes wait on SQLite's busy timeout.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock = system_clock,
        keep_user_comments: bool = True,
        snooze_days: int | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._keep_user_comments = keep_user_comments
        self._snooze_days = snooze_days
        self._dialect = engine.dialect.name
        self._write_lock: asyncio.Lock | None = (
            asyncio.Lock() if self._dialect == "sqlite" else None
        )

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise RuntimeError(f"unsupported database dialect {self._dialect!r}")

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        return self._write_lock if self._write_lock is not None else nullcontext()

    async def record_responses(self, responses: Sequence[IssuedResponse]) -> int:
        """Remember the cards of many hook responses in one transaction; returns how many were new.

        One transaction for a batch is what makes recording cheap under load: each
        transaction costs an fsync on SQLite and a round trip on PostgreSQL.
        """
        now = self._clock()
        rows: dict[str, dict[str, Any]] = {}
        for response in responses:
            for card in response.cards:
                rows.setdefault(
                    card.uuid.lower(),
                    {
                        "card_uuid": card.uuid.lower(),
                        "service_id": response.service_id,
                        "topic_code": card.topic_code,
                        "indicator": card.indicator,
                        "hook_instance": response.hook_instance,
                        "issuer": response.issuer,
                        "tenant": response.tenant,
                        "created_at": now,
                        "patient_key": card.patient_key,
                        "snooze_suggestion": card.snooze_suggestion,
                    },
                )
        if not rows:
            return 0
        stmt = (
            self._insert(CardIssued)
            .on_conflict_do_nothing(index_elements=[CardIssued.card_uuid])
            .returning(CardIssued.card_uuid)  # only the rows inserted: the count of new ones
        )
        async with self._writing(), self._engine.begin() as conn:
            # executemany of one cached statement: SQLAlchemy batches the rows itself
            # ("insertmanyvalues"), far cheaper than compiling a VALUES list per batch.
            result = await conn.execute(stmt, [rows[uuid] for uuid in sorted(rows)])
            return len(result.all())

    async def store_feedback(
        self,
        service_id: str,
        items: Sequence[FeedbackItem],
        issuer: str | None,
        tenant: str | None,
    ) -> int:
        """Store a batch in one transaction; returns how many items were new.

        Each item's card topic is copied from ``card_issued`` when the card is known. An
        accepted snoozing suggestion snoozes its card in the same transaction.
        """
        if not items:
            return 0
        received_at = self._clock()
        keyed = {idempotency_key(item): item for item in items}
        stored = snoozed = 0
        async with self._writing(), self._engine.begin() as conn:
            for key in sorted(keyed):
                item = keyed[key]
                stored += await self._insert_feedback(
                    conn, key, item, service_id, issuer, tenant, received_at
                )
                snoozed += await self._snooze(conn, item, issuer, tenant, received_at)
        log.info(
            "feedback stored",
            extra={
                "service_id": service_id,
                "received": len(items),
                "stored": stored,
                "snoozed": snoozed,
            },
        )
        return stored

    async def _snooze(
        self,
        conn: AsyncConnection,
        item: FeedbackItem,
        issuer: str | None,
        tenant: str | None,
        received_at: datetime,
    ) -> int:
        """Snooze the card when its snoozing suggestion was accepted; 1 when a snooze is new.

        The snooze runs from the clinician's ``outcomeTimestamp`` (never later than now,
        whatever the client's clock says). One snooze per card: a re-sent item cannot
        extend it.
        """
        if self._snooze_days is None or item.outcome != "accepted":
            return 0
        accepted = {sid.lower() for sid in item.accepted_suggestion_ids}
        if not accepted:
            return 0
        row = (
            await conn.execute(
                select(CardIssued.patient_key, CardIssued.snooze_suggestion, CardIssued.topic_code)
                .where(CardIssued.card_uuid == item.card)
                .limit(1)
            )
        ).first()
        if row is None:
            return 0
        patient_key, suggestion, topic = row
        if not patient_key or not topic or suggestion not in accepted:
            return 0
        start = min(item.outcomeTimestamp.astimezone(UTC), received_at)
        stmt = (
            self._insert(CardSnooze)
            .values(
                card_uuid=item.card,
                patient_key=patient_key,
                topic_code=topic,
                snoozed_at=start,
                snoozed_until=start + timedelta(days=self._snooze_days),
                issuer=issuer,
                tenant=tenant,
            )
            .on_conflict_do_nothing(index_elements=[CardSnooze.card_uuid])
        )
        result = await conn.execute(stmt)
        return max(result.rowcount, 0)

    async def all_active_snoozes(self, now: datetime) -> dict[str, dict[str, datetime]]:
        """Every snooze active at ``now``: patient key -> topic -> end of the latest one.

        What the in-memory snooze cache loads (``service/snooze_cache.py``): active snoozes
        are few, so one query returns them all.
        """
        stmt = (
            select(
                CardSnooze.patient_key, CardSnooze.topic_code, func.max(CardSnooze.snoozed_until)
            )
            .where(CardSnooze.snoozed_until > now)
            .group_by(CardSnooze.patient_key, CardSnooze.topic_code)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        result: dict[str, dict[str, datetime]] = {}
        for key, topic, until in rows:
            result.setdefault(key, {})[topic] = _utc(until)
        return result

    async def purge_patient_keys(self, issued_before: datetime, now: datetime) -> tuple[int, int]:
        """Forget patient keys no longer needed: returns (cards cleared, snoozes deleted).

        A card needs its key only until feedback on it arrives (minutes, usually); a
        snooze only until it ends. Clearing both keeps the pseudonyms from building a
        history of a patient's cards.
        """
        clear = (
            update(CardIssued)
            .where(CardIssued.patient_key.is_not(None), CardIssued.created_at < issued_before)
            .values(patient_key=None, snooze_suggestion=None)
        )
        expired = delete(CardSnooze).where(CardSnooze.snoozed_until <= now)
        async with self._writing(), self._engine.begin() as conn:
            cleared = (await conn.execute(clear)).rowcount
            deleted = (await conn.execute(expired)).rowcount
        return max(cleared, 0), max(deleted, 0)

    async def clear_snoozes(self, patient_key: str) -> int:
        """Undo one patient's snoozes; returns how many were deleted.

        For ``oih-cds clear-snoozes`` (a "not suspected" documented by mistake) and the
        sandbox page. The cards already issued to this patient also lose their key, in the
        same transaction: otherwise an EHR re-sending the same feedback (they retry) would
        snooze the card again. The feedback itself stays: only its effect goes.
        """
        snoozes = delete(CardSnooze).where(CardSnooze.patient_key == patient_key)
        cards = (
            update(CardIssued)
            .where(CardIssued.patient_key == patient_key)
            .values(patient_key=None, snooze_suggestion=None)
        )
        async with self._writing(), self._engine.begin() as conn:
            deleted = (await conn.execute(snoozes)).rowcount
            await conn.execute(cards)
        return max(deleted, 0)

    async def _insert_feedback(
        self,
        conn: AsyncConnection,
        key: str,
        item: FeedbackItem,
        service_id: str,
        issuer: str | None,
        tenant: str | None,
        received_at: datetime,
    ) -> int:
        override = item.overrideReason
        reason = override.reason if override else None
        comment = override.userComment if override and self._keep_user_comments else None
        topic = (
            select(CardIssued.topic_code)
            .where(CardIssued.card_uuid == item.card)
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            self._insert(FeedbackRecord)
            .values(
                idempotency_key=key,
                card_uuid=item.card,
                service_id=service_id,
                topic_code=topic,
                outcome=item.outcome,
                accepted_suggestions=item.accepted_suggestion_ids or None,
                override_system=reason.system if reason else None,
                override_code=reason.code if reason else None,
                override_display=reason.display if reason else None,
                user_comment=comment,
                outcome_at=item.outcomeTimestamp,
                received_at=received_at,
                issuer=issuer,
                tenant=tenant,
            )
            .on_conflict_do_nothing(index_elements=[FeedbackRecord.idempotency_key])
        )
        result = await conn.execute(stmt)
        return max(result.rowcount, 0)

    async def purge_user_comments(self, received_before: datetime) -> int:
        """Blank the free-text comments of feedback received before ``received_before``.

        The comment is the only part of a feedback row that may hold PHI; outcome, coded
        reason and timestamps stay, so the report is unchanged. Returns how many were blanked.
        """
        stmt = (
            update(FeedbackRecord)
            .where(
                FeedbackRecord.user_comment.is_not(None),
                FeedbackRecord.received_at < received_before,
            )
            .values(user_comment=None)
        )
        async with self._writing(), self._engine.begin() as conn:
            result = await conn.execute(stmt)
        return max(result.rowcount, 0)

    async def report(
        self,
        since: datetime | None,
        *,
        top_reasons: int = DEFAULT_TOP_REASONS,
    ) -> list[TopicReport]:
        """Per topic: cards shown since ``since``, accepted, overridden, top override reasons.

        Feedback is counted by ``outcomeTimestamp``; cards by when they were issued. The
        topic comes from the feedback row, else from ``card_issued`` (feedback may have
        arrived before the card was recorded). A naive ``since`` is read as UTC.
        """
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        card_topic = (
            select(CardIssued.topic_code)
            .where(CardIssued.card_uuid == FeedbackRecord.card_uuid)
            .limit(1)
            .scalar_subquery()
        )
        topic = func.coalesce(FeedbackRecord.topic_code, card_topic).label("topic")

        recent_cards = [CardIssued.created_at >= since] if since is not None else []
        recent: list[ColumnElement[bool]] = (
            [FeedbackRecord.outcome_at >= since] if since is not None else []
        )
        shown_q = (
            select(CardIssued.topic_code, func.count())
            .where(*recent_cards)
            .group_by(CardIssued.topic_code)
        )
        outcome_q = (
            select(topic, FeedbackRecord.outcome, func.count(FeedbackRecord.card_uuid.distinct()))
            .where(*recent)
            .group_by(literal_column("topic"), FeedbackRecord.outcome)
        )
        reason_q = (
            select(
                topic,
                FeedbackRecord.override_system,
                FeedbackRecord.override_code,
                func.max(FeedbackRecord.override_display),
                func.count(FeedbackRecord.card_uuid.distinct()),
            )
            .where(FeedbackRecord.outcome == "overridden", *recent)
            .group_by(
                literal_column("topic"),
                FeedbackRecord.override_system,
                FeedbackRecord.override_code,
            )
        )

        async with self._engine.connect() as conn:
            shown_rows = (await conn.execute(shown_q)).all()
            outcome_rows = (await conn.execute(outcome_q)).all()
            reason_rows = (await conn.execute(reason_q)).all()

        shown: dict[str | None, int] = {t: n for t, n in shown_rows}  # noqa: C416 - Row -> tuple
        outcomes: dict[str | None, dict[str, int]] = defaultdict(dict)
        for t, outcome, n in outcome_rows:
            outcomes[t][outcome] = n
        reasons: dict[str | None, list[ReasonCount]] = defaultdict(list)
        for t, system, code, display, n in reason_rows:
            reasons[t].append(ReasonCount(system, code, display, n))

        topics = set(shown) | set(outcomes)
        reports = [
            TopicReport(
                topic=t,
                shown=shown.get(t, 0),
                accepted=outcomes[t].get("accepted", 0),
                overridden=outcomes[t].get("overridden", 0),
                top_override_reasons=sorted(
                    reasons[t], key=lambda r: (-r.count, r.code is None, r.code or "")
                )[:top_reasons],
            )
            for t in topics
        ]
        return sorted(reports, key=lambda r: (r.topic is None, -r.shown, r.topic or ""))

    async def ping(self) -> bool:
        """For /readyz: can we reach the database right now? Never raises."""
        try:
            async with asyncio.timeout(2.0), self._engine.connect() as conn:
                await conn.execute(select(1))
        except Exception as exc:  # any failure means "not ready"
            log.warning("database ping failed: %s", type(exc).__name__)
            return False
        return True

    async def close(self) -> None:
        await self._engine.dispose()


def _utc(value: datetime | str) -> datetime:
    """max() comes back untyped on SQLite: a naive UTC datetime or an ISO string."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def create_store(
    url: str | URL,
    *,
    clock: Clock = system_clock,
    keep_user_comments: bool = True,
    snooze_days: int | None = None,
    pool_size: int = 5,
    max_overflow: int = 10,
) -> Store:
    """A store for ``Settings.effective_database_url`` (run :func:`migrate` first).

    SQLite: WAL mode, busy timeout, the data directory created if missing.
    PostgreSQL (asyncpg): a pool of ``pool_size`` + ``max_overflow`` connections per
    process, pre-pinged so a database restart does not surface as errors. Accepted
    snoozing suggestions create snoozes only when ``snooze_days`` is given.
    """
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    return Store(
        engine, clock=clock, keep_user_comments=keep_user_comments, snooze_days=snooze_days
    )
