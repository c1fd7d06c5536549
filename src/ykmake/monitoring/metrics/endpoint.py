"""GET /metrics: the registry rendered off the event loop, in the format the scraper asks for.

The render runs under a thread limit of its own, not anyio's default one: an app's sync
endpoints can take every token of that (a hanging database holds them all), and the scrape
is what must still answer then.

Who may scrape is decided by the guard it is given (``METRICS_TOKEN``, see
:mod:`ykmake.monitoring.http.auth`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from ykmake.monitoring.metrics.exposition import choose_format, render

__all__ = ["MetricsEndpoint"]

Guard = Callable[[Request], Response | None]


class MetricsEndpoint:
    """A Starlette endpoint rendering ``registry`` in a worker thread.

    Args:
        registry: what to render (the app's registry, or the multiprocess one).
        const_labels: labels added to every series (``app``).
        guard: returns the response refusing a request, or None to let it scrape.
        before_scrape: hooks that bring sampled gauges up to date first; kept, not copied,
            so parts built later add theirs. One that fails is logged and skipped.
        log: where a failing hook is reported.
    """

    def __init__(
        self,
        registry: Collector,
        *,
        const_labels: Mapping[str, str],
        guard: Guard,
        before_scrape: Sequence[Callable[[], None]] = (),
        log: Any = None,
    ) -> None:
        self.registry = registry
        self._const_labels = const_labels
        self._guard = guard
        self._before = before_scrape
        self._log = log
        # One scrape renders at a time; a second waits for it, never for the app's threads.
        self._render_limiter = anyio.CapacityLimiter(1)

    def _scrape(self, openmetrics: bool) -> bytes:
        for hook in self._before:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001 - a stale gauge beats a failed scrape
                if self._log is not None:
                    self._log.warning("metrics refresh failed", error=repr(exc))
        return render(self.registry, const_labels=self._const_labels, openmetrics=openmetrics)

    async def handle(self, request: Request) -> Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        openmetrics, content_type = choose_format(request.headers.get("accept"))
        # In a worker thread: the loop keeps serving requests while the scrape renders.
        body = await anyio.to_thread.run_sync(
            self._scrape, openmetrics, limiter=self._render_limiter
        )
        return Response(body, media_type=None, headers={"Content-Type": content_type})
