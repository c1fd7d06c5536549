"""An open-loop load for fault tests: a request every ``interval`` seconds, whatever the ones
before are doing (as real clients keep coming when a server slows down), each recorded.

It runs in a thread of its own with its own event loop; the in-flight requests are bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Call", "OpenLoopLoad", "Outcome"]


@dataclass(frozen=True)
class Call:
    """One request of the mix: ``name`` says what it is in the assertions."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    call: Call
    sent: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no answer (a timeout or a broken connection)
    json: Any
    retry_after: str | None

    @property
    def answered(self) -> float:
        return self.sent + self.seconds


class OpenLoopLoad:
    """Sends ``calls`` in turn to ``base_url``, one every ``interval`` seconds, until stopped."""

    def __init__(
        self,
        base_url: str,
        calls: Sequence[Call],
        *,
        interval: float,
        timeout: float = 30.0,
        max_in_flight: int = 200,
    ) -> None:
        self.outcomes: list[Outcome] = []
        self._base_url, self._calls, self._interval = base_url, calls, interval
        self._timeout, self._max_in_flight = timeout, max_in_flight
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load")

    def __enter__(self) -> OpenLoopLoad:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending; returns once every request sent has its outcome."""
        self._stop.set()
        self._thread.join(self._timeout + 10)

    def snapshot(self) -> list[Outcome]:
        return list(self.outcomes)  # appended from the load thread: a copy to read

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self._max_in_flight, max_keepalive_connections=20)
        slots = asyncio.Semaphore(self._max_in_flight)
        async with httpx.AsyncClient(
            base_url=self._base_url, timeout=self._timeout, limits=limits
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            for call in itertools.cycle(self._calls):
                if self._stop.is_set():
                    break
                await slots.acquire()
                task = asyncio.create_task(self._one(client, call, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                next_at += self._interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the pace
            await asyncio.gather(*tasks)

    async def _one(self, client: httpx.AsyncClient, call: Call, slots: asyncio.Semaphore) -> None:
        sent = time.monotonic()
        status, body, retry_after = None, None, None
        try:
            response = await client.request(
                call.method, call.path, json=call.body, headers=call.headers
            )
            status, retry_after = response.status_code, response.headers.get("retry-after")
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
        except httpx.HTTPError:
            pass
        finally:
            slots.release()
        self.outcomes.append(
            Outcome(call, sent, time.monotonic() - sent, status, body, retry_after)
        )
