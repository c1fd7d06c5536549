"""Every metric the toolkit exports, defined once: name, kind, help, labels and buckets.

Names and labels are the seed's contract (``metrics.server.ts``), so its dashboard's queries
keep working. :mod:`.families` builds the metrics from these specs; the stack's rules and
dashboards are checked against them (``ykmake.stack.exported_metrics``). Plain data: importing
this module loads nothing of prometheus_client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ACTIVE_USERS",
    "ALERT_NOTIFICATIONS",
    "ALERT_OUTBOX_PENDING",
    "DB_BUCKETS",
    "DB_QUERY_DURATION",
    "ERRORS",
    "EVENT_LOOP_LAG",
    "HTTP_BUCKETS",
    "HTTP_REQUESTS",
    "HTTP_REQUESTS_IN_PROGRESS",
    "HTTP_REQUEST_DURATION",
    "LOG_LINES_DROPPED",
    "PROCESS_METRICS",
    "SERVICE_LABEL",
    "TOOLKIT_METRICS",
    "MetricSpec",
]

MetricKind = Literal["counter", "gauge", "histogram"]

# The label every series carries, with SERVICE_NAME as its value (the seed's default label).
SERVICE_LABEL: Final = "app"
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as it appears on /metrics (a counter's name ends in ``_total``)."""

    name: str
    kind: MetricKind
    help: str = ""
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def base_name(self) -> str:
        """The name prometheus_client is given (it adds a counter's ``_total`` itself)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name

    def series_names(self) -> frozenset[str]:
        """The sample names a scrape of this family yields."""
        if self.kind == "histogram":
            return frozenset(f"{self.name}{s}" for s in ("_bucket", "_count", "_sum"))
        return frozenset({self.name})


HTTP_REQUESTS: Final = MetricSpec(
    "http_requests_total",
    "counter",
    "Total number of HTTP requests",
    ("method", "path", "status_code"),
)
HTTP_REQUEST_DURATION: Final = MetricSpec(
    "http_request_duration_seconds",
    "histogram",
    "HTTP request duration in seconds",
    ("method", "path", "status_code"),
    HTTP_BUCKETS,
)
HTTP_REQUESTS_IN_PROGRESS: Final = MetricSpec(
    "http_requests_in_progress",
    "gauge",
    "HTTP requests being served right now",
    ("method", "path"),
)
ACTIVE_USERS: Final = MetricSpec(
    "active_users", "gauge", "Distinct authenticated users seen within the sliding window"
)
DB_QUERY_DURATION: Final = MetricSpec(
    "db_query_duration_seconds",
    "histogram",
    "Database query duration in seconds",
    ("operation", "table", "success"),
    DB_BUCKETS,
)
ERRORS: Final = MetricSpec(
    "errors_total", "counter", "Total number of errors encountered", ("type", "severity")
)
EVENT_LOOP_LAG: Final = MetricSpec(
    "event_loop_lag_seconds", "gauge", "How late the event loop woke up for a timer, last sample"
)
ALERT_NOTIFICATIONS: Final = MetricSpec(
    "ykmake_alert_notifications_total",
    "counter",
    "Alert notifications attempted, by result (sent, retry, failed)",
    ("result",),
)
ALERT_OUTBOX_PENDING: Final = MetricSpec(
    "ykmake_alert_outbox_pending", "gauge", "Alert notifications waiting to be delivered"
)
LOG_LINES_DROPPED: Final = MetricSpec(
    "ykmake_log_lines_dropped_total",
    "counter",
    "Log lines a file could not take (disk full, quota, I/O error), by file",
    ("file",),
)
SENTRY_EVENTS_DROPPED: Final = MetricSpec(
    "ykmake_sentry_events_dropped_total",
    "counter",
    "Errors not sent to Sentry: their kind used up SENTRY_EVENTS_PER_WINDOW in its window",
)

TOOLKIT_METRICS: Final = (
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_IN_PROGRESS,
    ACTIVE_USERS,
    DB_QUERY_DURATION,
    ERRORS,
    EVENT_LOOP_LAG,
    ALERT_NOTIFICATIONS,
    ALERT_OUTBOX_PENDING,
    LOG_LINES_DROPPED,
    SENTRY_EVENTS_DROPPED,
)
# prometheus_client's process, platform and GC collectors (one process; see multiprocess).
PROCESS_METRICS: Final = (
    MetricSpec("process_cpu_seconds_total", "counter"),
    MetricSpec("process_resident_memory_bytes", "gauge"),
    MetricSpec("process_virtual_memory_bytes", "gauge"),
    MetricSpec("process_open_fds", "gauge"),
    MetricSpec("process_start_time_seconds", "gauge"),
    MetricSpec("python_gc_objects_collected_total", "counter", labels=("generation",)),
    MetricSpec("python_gc_collections_total", "counter", labels=("generation",)),
    MetricSpec(
        "python_info", "gauge", labels=("implementation", "major", "minor", "patchlevel", "version")
    ),
)
