"""The toolkit's metric families, built from the catalogue on one registry of their own.

Importing this module registers nothing: :class:`MonitoringMetrics` builds every metric *with*
the registry it belongs to. ``app="<SERVICE_NAME>"`` is added to every series at exposition.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector

from ykmake.monitoring.metrics import catalogue
from ykmake.monitoring.metrics.catalogue import SERVICE_LABEL, MetricSpec
from ykmake.monitoring.metrics.http import HttpFamilies, LocalHttpFamilies, SharedHttpFamilies

__all__ = ["MonitoringMetrics"]

# How several workers' gauges combine in multiprocess mode.
GaugeMode = Literal["livesum", "livemax"]


class MonitoringMetrics:
    """Every metric the toolkit records, bound to one registry.

    Args:
        service: the value of the ``app`` label every series carries.
        registry: where to register; a fresh one when omitted.
        multiprocess: gauges combine across workers, the HTTP families live in the
            multiprocess files, and the per-process collectors are left out (see
            :mod:`.multiprocess`).
        process_collectors: add the process, platform and GC collectors (one process).
    """

    def __init__(
        self,
        service: str = "ykmake",
        *,
        registry: CollectorRegistry | None = None,
        multiprocess: bool = False,
        process_collectors: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.const_labels = {SERVICE_LABEL: service}
        self.multiprocess = multiprocess
        r = self.registry
        if process_collectors and not multiprocess:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.http: HttpFamilies
        if multiprocess:
            self.http = SharedHttpFamilies(r)
        else:
            local = LocalHttpFamilies(catalogue.HTTP_REQUEST_DURATION.buckets)
            r.register(local)
            self.http = local
        self.http_requests_in_progress = self._gauge(catalogue.HTTP_REQUESTS_IN_PROGRESS, "livesum")
        # Every worker reports the same shared (Redis) count, or its own local one.
        self.active_users = self._gauge(catalogue.ACTIVE_USERS, "livemax")
        self.db_query_duration_seconds = self._histogram(catalogue.DB_QUERY_DURATION)
        self.errors_total = self._counter(catalogue.ERRORS)
        self.event_loop_lag_seconds = self._gauge(catalogue.EVENT_LOOP_LAG, "livemax")
        self.alert_notifications_total = self._counter(catalogue.ALERT_NOTIFICATIONS)
        self.alert_outbox_pending = self._gauge(catalogue.ALERT_OUTBOX_PENDING, "livemax")
        self.log_lines_dropped_total = self._counter(catalogue.LOG_LINES_DROPPED)
        self.sentry_events_dropped_total = self._counter(catalogue.SENTRY_EVENTS_DROPPED)

    def count_dropped_log_lines(self, file: str, lines: int) -> None:
        """The log writer's drop counter (logs/ knows nothing of metrics: setup wires it)."""
        self.log_lines_dropped_total.labels(file).inc(lines)

    def _counter(self, spec: MetricSpec) -> Counter:
        return Counter(spec.base_name, spec.help, spec.labels, registry=self.registry)

    def _gauge(self, spec: MetricSpec, mode: GaugeMode) -> Gauge:
        return Gauge(
            spec.name, spec.help, spec.labels, registry=self.registry, multiprocess_mode=mode
        )

    def _histogram(self, spec: MetricSpec) -> Histogram:
        return Histogram(
            spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=self.registry
        )
