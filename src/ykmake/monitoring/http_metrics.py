"""RED metrics for the middleware: one series lookup per request, no locks.

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

__all__ = ["STANDARD_METHODS", "HttpMetricsRecorder"]

STANDARD_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_EXEMPLAR_RUNES: Final = 128  # OpenMetrics' limit on an exemplar's label names + values


class HttpMetricsRecorder:
    """Records one request in ``http_requests_total`` and ``http_request_duration_seconds``;
    keeps the requests in flight so ``http_requests_in_progress`` is computed at scrape time
    (the route is only known once the router matched, so counting up front would mean
    matching twice)."""

    def __init__(self, metrics: MonitoringMetrics, *, exemplars: bool = True) -> None:
        self.metrics = metrics
        self.exemplars = exemplars and not metrics.multiprocess
        self._series: dict[tuple[str, str, int], Series] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.inflight: dict[int, Scope] = {}  # id(scope) -> scope, filled by the middleware
        self._trace_id: Callable[[], str | None] | None = None
        self._progress_labels: set[tuple[str, str]] = set()
        if metrics.http_series is not None:
            self._bounds = metrics.http_series.bounds
            self.observe = self._observe_series  # type: ignore[method-assign]
        else:
            self.observe = self._observe_client  # type: ignore[method-assign]

    def set_trace_id_getter(self, getter: Callable[[], str | None]) -> None:
        """A callable returning the current trace id (or None) for exemplars."""
        self._trace_id = getter

    def observe(
        self, method: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        """Count one finished request (bound in ``__init__`` to the mode's implementation)."""

    def _labels(self, method: str, route: str, status: int) -> tuple[str, str, str]:
        return (method if method in STANDARD_METHODS else "OTHER", route, str(status))

    def _observe_series(
        self, method: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            assert self.metrics.http_series is not None
            series = self.metrics.http_series.series(*self._labels(method, route, status))
            if method in STANDARD_METHODS:  # never cache under a client-chosen key
                self._series[key] = series
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
                series.exemplars[bucket] = (request_id, trace_id, seconds, time.time())

    def _observe_client(
        self, method: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:
            requests = self.metrics.http_requests_total
            duration = self.metrics.http_request_duration_seconds
            assert requests is not None
            assert duration is not None
            labels = self._labels(method, route, status)
            pair = (requests.labels(*labels), duration.labels(*labels))
            if method in STANDARD_METHODS:  # never cache under a client-chosen key
                self._children[key] = pair
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
