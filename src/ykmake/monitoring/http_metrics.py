"""RED metrics for the middleware: label children resolved once per (method, route, status).

``path`` is the route template, unknown methods collapse to ``OTHER``: the number of series
is bounded by the app's routes, never by what clients send.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any, Final

from starlette.types import Scope

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
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._inflight: dict[int, Scope] = {}
        self._trace_id: Any = None
        self._progress_labels: set[tuple[str, str]] = set()

    def set_trace_id_getter(self, getter: Any) -> None:
        """A callable returning the current trace id (or None) for exemplars."""
        self._trace_id = getter

    def track(self, scope: Scope) -> int:
        key = id(scope)
        self._inflight[key] = scope
        return key

    def untrack(self, key: int) -> None:
        self._inflight.pop(key, None)

    def _child(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:
            m = method if method in STANDARD_METHODS else "OTHER"
            labels = (m, route, str(status))
            pair = (
                self.metrics.http_requests_total.labels(*labels),
                self.metrics.http_request_duration_seconds.labels(*labels),
            )
            if m == method:  # never cache under a client-chosen key
                self._children[key] = pair
        return pair

    def observe(
        self, method: str, route: str, status: int, seconds: float, request_id: str
    ) -> None:
        counter, histogram = self._child(method, route, status)
        counter.inc()
        if self.exemplars:
            # OpenMetrics caps an exemplar's label names + values at 128 characters and
            # prometheus_client raises past it, after counting the bucket: a long (valid)
            # X-Request-ID must cost the exemplar, not the observation.
            budget = _MAX_EXEMPLAR_RUNES - 10 - len(request_id)  # 10 = len("request_id")
            exemplar = {"request_id": request_id}
            if self._trace_id is not None and (trace_id := self._trace_id()):
                exemplar["trace_id"] = trace_id
                budget -= 8 + len(trace_id)  # 8 = len("trace_id")
            if budget >= 0:
                histogram.observe(seconds, exemplar)
                return
        histogram.observe(seconds)

    def refresh_in_progress(self) -> None:
        """Set ``http_requests_in_progress`` from the requests in flight right now."""
        counts = Tally(
            (
                s["method"] if s["method"] in STANDARD_METHODS else "OTHER",
                route_template(s),
            )
            for s in list(self._inflight.values())
        )
        gauge = self.metrics.http_requests_in_progress
        for labels in self._progress_labels - counts.keys():
            gauge.labels(*labels).set(0)  # a route that had requests in flight has none now
        for (method, route), n in counts.items():
            gauge.labels(method, route).set(n)
        self._progress_labels |= counts.keys()
