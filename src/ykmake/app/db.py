"""Engine, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from ykmake.errors import StartupError

__all__ = ["check_database", "make_engine", "normalize_url", "run_migrations", "session_scope"]

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(database_url: str) -> URL:
    """``postgresql://`` means psycopg 3 here; SQLite paths get their folder created."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(database_url: str, *, connect_timeout: int = 5) -> Engine:
    url = normalize_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": connect_timeout})


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


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
