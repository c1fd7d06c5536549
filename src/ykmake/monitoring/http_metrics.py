"""RED metrics for the middleware: one series per route, looked up once, no locks.

``path`` is the route template, unknown methods collapse to ``OTHER``: the number of series
is bounded by the app's routes, never by what clients send.

In one process a request bumps a plain list (`_http_series`); with several workers it goes
through prometheus_client's metrics, whose values are the files every worker's scrape sums
(exemplars are off there, as prometheus_client's multiprocess mode drops them).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any, Final

from starlette.types import Scope

from ykmake.monitoring._http_series import COUNT, FIRST_BUCKET, SUM, Series
from ykmake.monitoring.metrics import MonitoringMetrics
from ykmake.monitoring.routes import route_template

__all__ = ["STANDARD_METHODS", "Handle", "HttpMetricsRecorder"]

STANDARD_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_EXEMPLAR_RUNES: Final = 128  # OpenMetrics' limit on an exemplar's label names + values
_time = time.time
# A series of the lock-free collector, or prometheus_client's (counter, histogram) children.
Handle = Series | tuple[Any, Any]


class HttpMetricsRecorder:
    """Records one request in ``http_requests_total`` and ``http_request_duration_seconds``;
    keeps the requests in flight so ``http_requests_in_progress`` is computed at scrape time
    (the route is only known once the router matched, so counting up front would mean
    matching twice)."""

    def __init__(self, metrics: MonitoringMetrics, *, exemplars: bool = True) -> None:
        self.metrics = metrics
        self.exemplars = exemplars and not metrics.multiprocess
        self._handles: dict[tuple[str, str, int], Handle] = {}
        self.inflight: dict[int, Scope] = {}  # id(scope) -> scope, filled by the middleware
        self._trace_id: Callable[[], str | None] | None = None
        self._progress_labels: set[tuple[str, str]] = set()
        if metrics.http_series is not None:
            self._bounds = metrics.http_series.bounds
            self.record = self._record_series  # type: ignore[method-assign, assignment]
        else:
            self.record = self._record_client  # type: ignore[method-assign, assignment]

    def set_trace_id_getter(self, getter: Callable[[], str | None]) -> None:
        """A callable returning the current trace id (or None) for exemplars."""
        self._trace_id = getter

    def observe(
        self, method: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        """Count one finished request."""
        self.record(self.handle(method, route, status), seconds, request_id)

    def handle(self, method: str, route: str, status: int) -> Handle:
        """What :meth:`record` takes for these labels: callers that keep it per route (the
        middleware) skip the lookup."""
        key = (method, route, status)
        found = self._handles.get(key)
        if found is None:
            labels = (method if method in STANDARD_METHODS else "OTHER", route, str(status))
            if self.metrics.http_series is not None:
                found = self.metrics.http_series.series(*labels)
            else:
                requests = self.metrics.http_requests_total
                duration = self.metrics.http_request_duration_seconds
                assert requests is not None
                assert duration is not None
                found = (requests.labels(*labels), duration.labels(*labels))
            if method in STANDARD_METHODS:  # never cache under a client-chosen key
                self._handles[key] = found
        return found

    def record(self, handle: Handle, seconds: float, request_id: str) -> None:
        """Count one finished request (bound in ``__init__`` to the mode's implementation)."""

    def _record_series(self, series: Series, seconds: float, request_id: str) -> None:
        values = series.values
        bucket = bisect_left(self._bounds, seconds)  # first upper bound >= seconds
        values[COUNT] += 1
        values[SUM] += seconds
        values[FIRST_BUCKET + bucket] += 1
        if self.exemplars:
            trace_id = self._trace_id() if self._trace_id is not None else None
            # OpenMetrics caps an exemplar's label names + values at 128 characters: a
            # long (valid) X-Request-ID costs the exemplar, never the observation.
            size = 10 + len(request_id) + (8 + len(trace_id) if trace_id else 0)
            if size <= _MAX_EXEMPLAR_RUNES:
                series.exemplars[bucket] = (request_id, trace_id, seconds, _time())

    @staticmethod
    def _record_client(pair: tuple[Any, Any], seconds: float, _request_id: str) -> None:
        pair[0].inc()
        pair[1].observe(seconds)

    def refresh_in_progress(self) -> None:
        """Set ``http_requests_in_progress`` from the requests in flight right now."""
        counts = Tally(
            (
                s["method"] if s["method"] in STANDARD_METHODS else "OTHER",
                route_template(s),
            )
            for s in list(self.inflight.values())
        )
        gauge = self.metrics.http_requests_in_progress
        for labels in self._progress_labels - counts.keys():
            gauge.labels(*labels).set(0)  # a route that had requests in flight has none now
        for (method, route), n in counts.items():
            gauge.labels(method, route).set(n)
        self._progress_labels |= counts.keys()
