"""Alembic environment: the engine comes from the caller (``run_migrations``) or the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from ykmake.app.models import Base
from ykmake.monitoring.alerts.models import AlertsBase

config = context.config
target_metadata = [Base.metadata, AlertsBase.metadata]


def run() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # The service's engine bounds statements for requests; a migration may take
                # as long as it needs (LOCAL: the pooled connection keeps the bound after).
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            context.run_migrations()
        connection.commit()


run()
