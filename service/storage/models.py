"""Tables: the cards we issued and the feedback clinicians gave on them.

No patient identifiers anywhere: a card is known by its uuid, the hook call by its
``hookInstance``, the caller by JWT ``iss``/``tenant``. The one column that can hold
PHI is ``feedback.user_comment`` (free text typed by a clinician); see the package
docstring for how it is handled. Snoozes need to recognise a patient again, so cards
that offer a snooze and the snoozes themselves carry a **patient key**: an HMAC of the
FHIR server and patient id under an operator secret (``service/patient_key.py``), which
cannot be turned back into the id without that secret.

The schema itself is owned by the Alembic migrations; these models must match them
(``tests/service/storage/test_migrations.py`` compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BIGINT identity on PostgreSQL; on SQLite an INTEGER primary key is the rowid, which
#: autoincrements (a BIGINT primary key there would not).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both backends.

    SQLite has no time zones: values are stored as naive UTC and read back as UTC.
    Naive datetimes are refused so that local time can never slip in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CardIssued(Base):
    """One row per card returned by a hook call: what feedback is joined to."""

    __tablename__ = "card_issued"
    __table_args__ = (
        # The hourly purge (service/maintenance.py) finds the few cards that still hold a
        # patient key without walking the whole history of issued cards.
        Index(
            "ix_card_issued_keyed_created_at",
            "created_at",
            postgresql_where=text("patient_key IS NOT NULL"),
            sqlite_where=text("patient_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    card_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    service_id: Mapped[str] = mapped_column(String(100))
    topic_code: Mapped[str | None] = mapped_column(String(100))
    indicator: Mapped[str] = mapped_column(String(16))
    hook_instance: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    #: Only on cards that offer a snooze: the patient key and the snoozing suggestion's
    #: uuid, so that accepting that suggestion can snooze the card for this patient.
    patient_key: Mapped[str | None] = mapped_column(String(64))
    snooze_suggestion: Mapped[str | None] = mapped_column(String(64))


class CardSnooze(Base):
    """A card topic hidden for one patient until ``snoozed_until`` (spec §6.5).

    Created when a clinician accepts a card's snoozing suggestion; one per card, so a
    re-sent feedback item cannot extend it.
    """

    __tablename__ = "card_snooze"
    __table_args__ = (Index("ix_card_snooze_patient_key_topic_code", "patient_key", "topic_code"),)

    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    card_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_key: Mapped[str] = mapped_column(String(64))
    topic_code: Mapped[str] = mapped_column(String(100))
    snoozed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    snoozed_until: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    issuer: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(Text)


class FeedbackRecord(Base):
    """One row per distinct feedback item; repeats are absorbed by ``idempotency_key``.

    Values a client controls are ``Text``: a length limit would turn an unusual reason
    code into a lost feedback item on PostgreSQL.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_outcome_at", "outcome_at"),
        # Comment retention (service/maintenance.py) touches only rows that have a comment.
        Index(
            "ix_feedback_commented_received_at",
            "received_at",
            postgresql_where=text("user_comment IS NOT NULL"),
            sqlite_where=text("user_comment IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    service_id: Mapped[str] = mapped_column(String(100))
    topic_code: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str] | None] = mapped_column(JSON)
    override_system: Mapped[str | None] = mapped_column(Text)
    override_code: Mapped[str | None] = mapped_column(Text)
    override_display: Mapped[str | None] = mapped_column(Text)
    user_comment: Mapped[str | None] = mapped_column(Text)  # may contain PHI: never log
    outcome_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    issuer: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(Text)
