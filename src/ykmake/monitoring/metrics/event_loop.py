"""Event-loop lag: how late a timer fires is how long callbacks waited for the loop."""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import Gauge

__all__ = ["EventLoopLagMonitor"]


class EventLoopLagMonitor:
    """Samples lag every ``interval`` seconds into a gauge."""

    def __init__(self, gauge: Gauge, interval: float = 0.5) -> None:
        self.gauge, self.interval = gauge, interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.gauge.set(max(0.0, time.perf_counter() - before - self.interval))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ykmake-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
