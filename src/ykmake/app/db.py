"""Engine, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from ykmake.errors import StartupError
from ykmake.monitoring.alerts.database import DatabaseLimits, make_engine, normalize_url
from ykmake.settings import Settings

__all__ = [
    "DatabaseLimits",
    "check_database",
    "make_engine",
    "normalize_url",
    "open_database",
    "request_limits",
    "run_migrations",
]

MIGRATIONS = Path(__file__).with_name("migrations")
# The service's pool: SQLAlchemy's sizes. The request path runs as many threads as this holds
# connections (ykmake.app.request_db), so none of its threads ever waits for one.
POOL_SIZE: Final = 5
MAX_OVERFLOW: Final = 10


def request_limits(settings: Settings) -> DatabaseLimits:
    """The service engine's limits, from the ``DATABASE_*_TIMEOUT_SECONDS`` settings."""
    return DatabaseLimits(
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_timeout=settings.database_pool_timeout_seconds,
    )


def check_database(engine: Engine) -> None:
    """Raise :class:`StartupError` naming DATABASE_URL when the database can't be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error means the same to the user
        shown = engine.url.render_as_string(hide_password=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"DATABASE_URL={shown!r} is unreachable: {reason}"
        raise StartupError(msg) from None


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def run_migrations(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def open_database(database_url: str, *, migrate: bool) -> Engine:
    """An engine on ``database_url``, checked (and migrated to the latest revision).

    Raises:
        StartupError: the database cannot be reached (one line naming DATABASE_URL).
    """
    engine = make_engine(database_url)
    try:
        check_database(engine)
        if migrate:
            run_migrations(engine)
    except Exception:
        engine.dispose()
        raise
    return engine
