"""Alertmanager groups: one Slack message per group notification, not one per alert. The
groups with what Slack was last told, what each group notification says, and the alerts it
carries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-19
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("told_fingerprints", sa.JSON(), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_group_notifications",
        sa.Column(
            "notification_id",
            sa.Integer(),
            sa.ForeignKey("alert_notifications.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "group_id",
            sa.Integer(),
            sa.ForeignKey("alert_groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_alert_group_notifications_group_id", "alert_group_notifications", ["group_id"]
    )
    op.create_table(
        "alert_group_members",
        sa.Column(
            "notification_id",
            sa.Integer(),
            sa.ForeignKey("alert_notifications.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "alert_id",
            sa.Integer(),
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_alert_group_members_alert_id", "alert_group_members", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_group_members")
    op.drop_table("alert_group_notifications")
    op.drop_table("alert_groups")
