"""Initial schema: card_issued and feedback.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Identity on PostgreSQL; INTEGER PRIMARY KEY (the autoincrementing rowid) on SQLite.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "card_issued",
        sa.Column("id", _ID, sa.Identity(), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("topic_code", sa.String(100), nullable=True),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("tenant", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_card_issued"),
        sa.UniqueConstraint("card_uuid", name="uq_card_issued_card_uuid"),
    )
    op.create_index("ix_card_issued_created_at", "card_issued", ["created_at"])

    op.create_table(
        "feedback",
        sa.Column("id", _ID, sa.Identity(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(100), nullable=False),
        sa.Column("topic_code", sa.String(100), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=True),
        sa.Column("override_system", sa.Text(), nullable=True),
        sa.Column("override_code", sa.Text(), nullable=True),
        sa.Column("override_display", sa.Text(), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("tenant", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_outcome_at", "feedback", ["outcome_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("card_issued")
