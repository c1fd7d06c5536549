"""``/ready``'s checks, answered within a deadline whatever the database and Redis do.

The database is asked ``SELECT 1`` on a connection of the probe's own (a new one each time:
no pool the app could exhaust, no stale connection), in a thread of the probe's own (not the
app's threads, which a hanging database may all hold). While a check hangs, each ``/ready``
waits for that same check, up to the deadline, instead of starting another: a hanging
database costs the probe one thread and one connection.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from sqlalchemy import text

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
            check = self._running = loop.run_in_executor(self._thread, self._select_one)
        finished, _ = await asyncio.wait({check}, timeout=self.timeout)
        return check.result() if finished else self._late()

    def _select_one(self) -> str:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return f"failed: {type(exc).__name__}"
        return "ok"

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
