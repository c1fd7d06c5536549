"""The seed's metrics (metrics.server.ts), on a dedicated registry.

Importing this module registers nothing: :class:`MonitoringMetrics` builds every metric
*with* the registry it belongs to. Names and labels are the seed's contract, so its
dashboard queries keep working; ``app="ykmake"`` is added to every series at exposition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector

from ykmake.monitoring._http_series import DURATION_HELP, LABELS, REQUESTS_HELP, HttpSeries

__all__ = ["DB_BUCKETS", "HTTP_BUCKETS", "MonitoringMetrics"]

HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
del GC_COLLECTOR  # the global one; we build our own per registry


class MonitoringMetrics:
    """Every metric the toolkit records, bound to one registry.

    Args:
        registry: where to register; a fresh one when omitted.
        const_labels: labels added to every series at exposition (the seed's default label).
        multiprocess: gauges get the multiprocess mode that makes their sum meaningful.
        process_collectors: add the process, platform and GC collectors.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        const_labels: Mapping[str, str] | None = None,
        multiprocess: bool = False,
        process_collectors: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.const_labels = dict(const_labels if const_labels is not None else {"app": "ykmake"})
        self.multiprocess = multiprocess
        r = self.registry
        if process_collectors and not multiprocess:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        # The two per-request families. One process: a lock-free collector bumped on the
        # event loop (see _http_series). Several workers: prometheus_client's own metrics,
        # whose values live in the memory-mapped files every worker's scrape sums.
        self.http_series: HttpSeries | None = None
        self.http_requests_total: Counter | None = None
        self.http_request_duration_seconds: Histogram | None = None
        if multiprocess:
            self.http_requests_total = Counter(
                "http_requests_total", REQUESTS_HELP, LABELS, registry=r
            )
            self.http_request_duration_seconds = Histogram(
                "http_request_duration_seconds",
                DURATION_HELP,
                LABELS,
                buckets=HTTP_BUCKETS,
                registry=r,
            )
        else:
            self.http_series = HttpSeries(HTTP_BUCKETS)
            r.register(self.http_series)
        self.http_requests_in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served right now",
            ["method", "path"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.active_users = Gauge(
            "active_users",
            "Distinct authenticated users seen within the sliding window",
            registry=r,
            # Every worker reports the same shared (Redis) count, or its own local count.
            multiprocess_mode="livemax",
        )
        self.db_query_duration_seconds = Histogram(
            "db_query_duration_seconds",
            "Database query duration in seconds",
            ["operation", "table", "success"],
            buckets=DB_BUCKETS,
            registry=r,
        )
        self.errors_total = Counter(
            "errors_total",
            "Total number of errors encountered",
            ["type", "severity"],
            registry=r,
        )
        self.event_loop_lag_seconds = Gauge(
            "event_loop_lag_seconds",
            "How late the event loop woke up for a timer, last sample",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.alert_notifications_total = Counter(
            "ykmake_alert_notifications_total",
            "Alert notifications attempted, by result (sent, retry, failed)",
            ["result"],
            registry=r,
        )
        self.alert_outbox_pending = Gauge(
            "ykmake_alert_outbox_pending",
            "Alert notifications waiting to be delivered",
            registry=r,
            multiprocess_mode="livemax",
        )
