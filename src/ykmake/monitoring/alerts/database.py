"""SQLAlchemy engines for SQLite and PostgreSQL, the way the toolkit and the app want them.

A SQLite file holds alerts (and the service's users' token hashes): it is created readable by
its owner only (0600, in a 0700 folder when the folder is new) before SQLAlchemy opens it.
SQLite gives its ``-wal`` and ``-shm`` files the database file's permissions, so they are
private too.

:class:`DatabaseLimits` bounds how long an engine's users can wait: for a connection to open,
for a free one in the pool and, on PostgreSQL, for a statement (``statement_timeout``, and
``idle_in_transaction_session_timeout`` at twice that, so the server ends a transaction its
client left open). Those are the server's: they end a slow statement, not the wait on a
server that stopped answering, which a caller that must not wait bounds itself.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

__all__ = ["DatabaseLimits", "in_memory", "make_engine", "normalize_url"]


@dataclass(frozen=True)
class DatabaseLimits:
    """How many connections an engine keeps and how long its users wait (seconds).

    The defaults are SQLAlchemy's pool and no statement timeout: what tools and migrations
    want. A service passes its own (see ``ykmake.app.db.request_limits``).
    """

    connect_timeout: int = 5  # libpq's connect_timeout: 2 at least
    statement_timeout: float | None = None  # PostgreSQL only; None: the server's setting
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    pooled: bool = True  # False: a new connection for each use, closed after it


def normalize_url(database_url: str | URL) -> URL:
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


def in_memory(url: URL) -> bool:
    """A SQLite database that lives in its connection: a second engine would not see it."""
    return url.get_backend_name() == "sqlite" and _sqlite_file(url) is None


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
    # Every commit reaches the disk: an alert stored is an alert that survives a power loss.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _pool_args(url: URL, limits: DatabaseLimits) -> dict[str, Any]:
    if not limits.pooled:
        return {"poolclass": NullPool}
    if in_memory(url):
        return {}  # SQLAlchemy's own pool for it: one connection
    return {
        "pool_size": limits.pool_size,
        "max_overflow": limits.max_overflow,
        "pool_timeout": limits.pool_timeout,
    }


def _postgres_connect_args(limits: DatabaseLimits) -> dict[str, Any]:
    args: dict[str, Any] = {
        "connect_timeout": limits.connect_timeout,
        # A server whose host vanished (no RST) is given up in about a minute instead of
        # the kernel's two hours; a frozen server still answers these, as it should.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if limits.statement_timeout is not None:
        ms = max(1, round(limits.statement_timeout * 1000))
        args["options"] = (
            f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={2 * ms}"
        )
    return args


def make_engine(database_url: str | URL, limits: DatabaseLimits | None = None) -> Engine:
    """An engine on ``database_url`` within ``limits`` (SQLAlchemy's defaults when None)."""
    limits = limits or DatabaseLimits()
    url = normalize_url(database_url)
    if (path := _sqlite_file(url)) is not None:
        _create_private(path)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, **_pool_args(url, limits)
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args=_postgres_connect_args(limits),
        **_pool_args(url, limits),
    )
