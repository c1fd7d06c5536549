"""``active_users``: distinct authenticated users seen within a sliding window.

Without Redis the window lives in process memory. With Redis, users are written to one
sorted set (member = user id, score = last seen) so that every instance reports the same
number, not their sum. The request path only touches a local dict; Redis is written by a
background task every ``flush_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Gauge

__all__ = ["ActiveUsers"]


class ActiveUsers:
    """The sliding window of users seen, local or shared through Redis.

    Args:
        gauge: the ``active_users`` gauge to keep current.
        window_seconds: how long a user counts as active after their last request.
        redis: a ``redis.asyncio`` client; None keeps the window in this process.
        key: the Redis sorted set shared by every instance.
        flush_interval: seconds between two writes to (and reads from) Redis.
        log: where failures to reach Redis are reported: once when it stops answering,
            once when it is back.
        redis_name: how those lines name Redis (``REDIS_URL=redis://host:6379/0``).
        clock: seconds since the epoch; tests pass a fake one.
    """

    def __init__(
        self,
        gauge: Gauge,
        *,
        window_seconds: float = 300.0,
        redis: Any = None,
        key: str = "ykmake:active_users",
        flush_interval: float = 1.0,
        log: Any = None,
        redis_name: str = "Redis",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gauge, self.window, self.redis, self.key = gauge, window_seconds, redis, key
        self.flush_interval = flush_interval
        self.log = log
        self.redis_name = redis_name
        self.clock = clock
        self._unreachable = False
        self._seen: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def seen(self, user_id: object) -> None:
        """Record that ``user_id`` made a request now (hot path: one dict store)."""
        now = self.clock()
        uid = str(user_id)
        if self.redis is None:
            self._seen[uid] = now
        else:
            self._pending[uid] = now

    def local_count(self) -> int:
        """Prune the in-memory window and return its size; sets the gauge."""
        cutoff = self.clock() - self.window
        for uid in [u for u, t in list(self._seen.items()) if t < cutoff]:
            self._seen.pop(uid, None)
        count = len(self._seen)
        self.gauge.set(count)
        return count

    async def sync(self) -> int:
        """Write pending sightings to Redis, drop expired ones, read the shared count."""
        pending, self._pending = self._pending, {}
        cutoff = self.clock() - self.window
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                if pending:
                    pipe.zadd(self.key, pending)
                pipe.zremrangebyscore(self.key, "-inf", cutoff)
                pipe.zcard(self.key)
                pipe.expire(self.key, int(self.window) + 60)
                results = await pipe.execute()
        except BaseException:
            # Redis unreachable (or we are cancelled): keep the sightings for the next try.
            for uid, seen_at in pending.items():
                if self._pending.get(uid, 0.0) < seen_at:
                    self._pending[uid] = seen_at
            raise
        count = int(results[-2])
        self.gauge.set(count)
        return count

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: keep serving, retry next tick
                self._went_down(exc)
            else:
                self._came_back()
            await asyncio.sleep(self.flush_interval)

    def _went_down(self, exc: Exception) -> None:
        if not self._unreachable and self.log is not None:
            self.log.warning(
                f"{self.redis_name} is unreachable; active_users is stale until it answers",
                error=repr(exc),
            )
        self._unreachable = True

    def _came_back(self) -> None:
        if self._unreachable and self.log is not None:
            self.log.info(f"{self.redis_name} answers again; active_users is current")
        self._unreachable = False

    def before_scrape(self) -> None:
        if self.redis is None:
            self.local_count()

    async def start(self) -> None:
        if self.redis is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="ykmake-active-users"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await self.sync()  # last sightings out before we go
