"""Users lose ``is_admin``: nothing read it. Admin rights are the deploy's tokens
(``ADMIN_TOKEN``, ``METRICS_TOKEN``), not a flag on a user.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _has_is_admin() -> bool:
    return "is_admin" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}


def upgrade() -> None:
    # Not a batch: rebuilding `users` on SQLite drops the table that products' foreign key
    # points at, which fails once there are products. SQLite drops a column in place since
    # 3.35; before that the column stays, unused, its server default filling new rows.
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        return
    op.drop_column("users", "is_admin")


def downgrade() -> None:
    if not _has_is_admin():
        op.add_column(
            "users",
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
