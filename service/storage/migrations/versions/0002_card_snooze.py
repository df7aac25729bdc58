"""Snoozes: patient key and snoozing suggestion on issued cards, and the card_snooze table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns: ADD COLUMN works in place on both SQLite and PostgreSQL.
    op.add_column("card_issued", sa.Column("patient_key", sa.String(64), nullable=True))
    op.add_column("card_issued", sa.Column("snooze_suggestion", sa.String(64), nullable=True))
    op.create_table(
        "card_snooze",
        sa.Column("id", _ID, sa.Identity(), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("topic_code", sa.String(100), nullable=False),
        sa.Column("snoozed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("tenant", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_card_snooze"),
        sa.UniqueConstraint("card_uuid", name="uq_card_snooze_card_uuid"),
    )
    op.create_index(
        "ix_card_snooze_patient_key_topic_code", "card_snooze", ["patient_key", "topic_code"]
    )
    op.create_index("ix_card_snooze_snoozed_until", "card_snooze", ["snoozed_until"])


def downgrade() -> None:
    op.drop_table("card_snooze")
    with op.batch_alter_table("card_issued") as batch:  # SQLite cannot drop columns in place
        batch.drop_column("snooze_suggestion")
        batch.drop_column("patient_key")
