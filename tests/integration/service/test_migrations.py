"""Migrations keep people's data: 0003 drops the unused ``users.is_admin`` under a database
that has users and their products, on SQLite and PostgreSQL, and goes back down."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from ykmake.app.db import alembic_config, make_engine
from ykmake.monitoring.alerts.models import AlertsBase

pytestmark = pytest.mark.integration


def _user_columns(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()


def test_0003_drops_is_admin_and_keeps_users_and_their_products(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        config = alembic_config(engine)
        command.upgrade(config, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (name, is_admin, token_hash, created_at) "
                    "VALUES ('alice', true, 'hash', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO products (name, description, price_cents, maker_id, created_at)"
                    " VALUES ('Lamp', '', 1999, 1, CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(config, "head")
        assert "is_admin" not in _user_columns(database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name, token_hash FROM users")).all() == [
                ("alice", "hash")
            ]
            assert conn.execute(text("SELECT maker_id FROM products")).all() == [(1,)]

        command.downgrade(config, "0002")
        assert "is_admin" in _user_columns(database_url)
    finally:
        engine.dispose()


def test_the_migrations_build_the_alert_tables_the_toolkit_models(database_url: str) -> None:
    """An app on Alembic and an app on ``AlertStore.create_tables()`` get the same alert tables."""
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), AlertsBase.metadata)
        alert_tables = set(AlertsBase.metadata.tables)
        # The app's own tables are not in the toolkit's metadata: only the alert tables count.
        ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name not in alert_tables)]
        ours = [
            d for d in ours if not (d[0] == "remove_index" and d[1].table.name not in alert_tables)
        ]
        assert ours == []
    finally:
        engine.dispose()
