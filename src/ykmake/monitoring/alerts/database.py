"""SQLAlchemy engines for SQLite and PostgreSQL, the way the toolkit and the app want them.

A SQLite file holds alerts (and the service's users' token hashes): it is created readable by
its owner only (0600, in a 0700 folder when the folder is new) before SQLAlchemy opens it.
SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they are
private too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

__all__ = ["make_engine", "normalize_url"]


def normalize_url(database_url: str) -> URL:
    """``postgresql://`` means psycopg 3 here; SQLite paths get their folder created."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if (path := _sqlite_file(url)) is not None:
        # A folder that can't be made is reported by SQLite's own connect, with its reason.
        with contextlib.suppress(OSError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return url


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database or a ``file:`` URI."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") or str(url.database).startswith("file:"):
        return None  # SQLite parses those itself (mode=memory, …)
    return Path(str(url.database))


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an existing file keeps its mode:
    it may have been set on purpose)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # it exists, or SQLite's own connect will fail and say why
    os.close(fd)


def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(database_url: str, *, connect_timeout: int = 5) -> Engine:
    url = normalize_url(database_url)
    if (path := _sqlite_file(url)) is not None:
        _create_private(path)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": connect_timeout})
