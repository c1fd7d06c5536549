"""``/ready``'s checks, answered within a deadline whatever the database and Redis do.

The database is asked whether it can take a write, leaving nothing behind: answering a
``SELECT`` is not enough, a SQLite file that went read-only (or a writer that holds its lock)
still answers one while every write of the app fails.

- SQLite: ``BEGIN IMMEDIATE`` (the write lock), the header's ``user_version`` written back as
  it is, ``ROLLBACK``. The write itself is needed: ``BEGIN IMMEDIATE`` alone succeeds on a
  read-only file. Nothing reaches the file (a rolled-back change stays in the page cache).
- PostgreSQL: ``SHOW transaction_read_only`` ("on" on a standby, or with
  ``default_transaction_read_only``).

Each check runs on a connection of the probe's own (a new one each time: no pool the app
could exhaust, no stale connection), in a thread of the probe's own (not the app's threads,
which a hanging database may all hold). While a check hangs, each ``/ready`` waits for that
same check, up to the deadline, instead of starting another: a hanging database costs the
probe one thread and one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Final

from sqlalchemy import Connection

from ykmake.monitoring.alerts.database import DatabaseLimits, make_engine

__all__ = ["READY_TIMEOUT_SECONDS", "ReadinessProbe"]

# Well inside the second a load balancer or Prometheus gives a probe.
READY_TIMEOUT_SECONDS: Final = 0.5


class ReadinessProbe:
    """The database (and Redis, when given) checks of ``/ready``.

    Args:
        database_url: the service's database.
        redis: the service's Redis client, or None.
        timeout: how long a check may take before it counts as failed (seconds).
        connect_timeout: how long the database check's thread waits for a connection.
    """

    def __init__(
        self,
        database_url: str,
        redis: Any = None,
        *,
        timeout: float = READY_TIMEOUT_SECONDS,
        connect_timeout: int = 2,
    ) -> None:
        self.timeout = timeout
        self._redis = redis
        limits = DatabaseLimits(
            connect_timeout=connect_timeout, statement_timeout=timeout, pooled=False
        )
        self._engine = make_engine(database_url, limits)
        if self._engine.dialect.name == "sqlite":
            # A writer holding the lock longer than half the deadline is reported as such,
            # rather than as a check that did not answer.
            wait_ms = max(1, round(timeout * 500))
            self._can_write: Callable[[Connection], str] = partial(
                _sqlite_can_write, wait_ms=wait_ms
            )
        else:
            self._can_write = _postgres_can_write
        self._thread: ThreadPoolExecutor | None = None  # started by the first check
        self._running: asyncio.Future[str] | None = None

    async def checks(self) -> dict[str, str]:
        """``{"database": "ok" | "failed: …", "redis": …}``, within the timeout."""
        database, redis = await asyncio.gather(self._database(), self._ping_redis())
        return {"database": database} if redis is None else {"database": database, "redis": redis}

    async def _database(self) -> str:
        loop = asyncio.get_running_loop()
        check = self._running
        if check is None or check.done() or check.get_loop() is not loop:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="ykmake-ready")
            check = self._running = loop.run_in_executor(self._thread, self._check_database)
        finished, _ = await asyncio.wait({check}, timeout=self.timeout)
        return check.result() if finished else self._late()

    def _check_database(self) -> str:
        try:
            with self._engine.connect() as conn:
                return self._can_write(conn)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return f"failed: {_reason(exc)}"

    async def _ping_redis(self) -> str | None:
        if self._redis is None:
            return None
        try:
            await asyncio.wait_for(self._redis.ping(), self.timeout)
        except TimeoutError:
            return self._late()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return f"failed: {type(exc).__name__}"
        return "ok"

    def _late(self) -> str:
        return f"failed: no answer within {self.timeout:g}s"

    def close(self) -> None:
        """Drop a check still running (its answer is not wanted) and the probe's engine."""
        if self._running is not None:
            self._running.cancel()
            self._running = None
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None
        self._engine.dispose()


def _sqlite_can_write(conn: Connection, wait_ms: int) -> str:
    """Take the write lock and write the header's ``user_version`` back, then roll back."""
    conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # our BEGIN, not the driver's
    conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms:d}")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar_one())
        conn.exec_driver_sql(f"PRAGMA user_version={version:d}")
    finally:
        conn.exec_driver_sql("ROLLBACK")
    return "ok"


def _postgres_can_write(conn: Connection) -> str:
    read_only = conn.exec_driver_sql("SHOW transaction_read_only").scalar_one()
    return "failed: read-only" if read_only == "on" else "ok"


def _reason(exc: Exception) -> str:
    """The exception's type, and SQLite's own name for the error when it has one
    (``OperationalError (SQLITE_READONLY)``, ``… (SQLITE_BUSY)``)."""
    name = getattr(getattr(exc, "orig", None), "sqlite_errorname", None)
    return f"{type(exc).__name__} ({name})" if name else type(exc).__name__
