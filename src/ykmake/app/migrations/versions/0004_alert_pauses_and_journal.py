"""Alert delivery across instances: a channel's pause (429 + Retry-After) shared through the
database, and the journal entries already moved into it (replayed once, even after a crash).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channel_pauses",
        sa.Column("channel", sa.String(100), primary_key=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_journal_entries",
        sa.Column("entry", sa.String(200), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_journal_entries_applied_at", "alert_journal_entries", ["applied_at"])


def downgrade() -> None:
    op.drop_table("alert_journal_entries")
    op.drop_table("alert_channel_pauses")
