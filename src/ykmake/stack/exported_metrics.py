"""The metrics the YkMake app exports: the contract between the app, the rules and the dashboards.

Every series also carries ``app="ykmake"`` and Prometheus adds ``job`` and ``instance``. Rules and
dashboards may query only these series (plus recorded rules and Prometheus' own ``up`` and
``ALERTS``); a unit test holds them to it, and the app's tests can check their registry against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMMON_LABELS",
    "DB_QUERY_BUCKETS",
    "EXPORTED_METRICS",
    "HTTP_DURATION_BUCKETS",
    "PROMETHEUS_SERIES",
    "ExportedMetric",
    "exported_series_names",
    "format_le",
]

MetricKind = Literal["counter", "gauge", "histogram"]

COMMON_LABELS = ("app",)
HTTP_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_QUERY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# Series Prometheus itself creates for every target or alert; queries may use them too.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})


@dataclass(frozen=True)
class ExportedMetric:
    """One metric family as it appears on /metrics (counters are named with their ``_total``)."""

    name: str
    kind: MetricKind
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    def series_names(self) -> frozenset[str]:
        """The sample names a scrape of this family yields."""
        if self.kind == "histogram":
            return frozenset(f"{self.name}{s}" for s in ("_bucket", "_count", "_sum"))
        return frozenset({self.name})


EXPORTED_METRICS: tuple[ExportedMetric, ...] = (
    ExportedMetric("http_requests_total", "counter", ("method", "path", "status_code")),
    ExportedMetric(
        "http_request_duration_seconds",
        "histogram",
        ("method", "path", "status_code"),
        HTTP_DURATION_BUCKETS,
    ),
    ExportedMetric("http_requests_in_progress", "gauge", ("method", "path")),
    ExportedMetric("active_users", "gauge"),
    ExportedMetric(
        "db_query_duration_seconds",
        "histogram",
        ("operation", "table", "success"),
        DB_QUERY_BUCKETS,
    ),
    ExportedMetric("errors_total", "counter", ("type", "severity")),
    ExportedMetric("event_loop_lag_seconds", "gauge"),
    ExportedMetric("ykmake_alert_notifications_total", "counter", ("result",)),
    ExportedMetric("ykmake_alert_outbox_pending", "gauge"),
    # prometheus_client's default process and platform collectors.
    ExportedMetric("process_cpu_seconds_total", "counter"),
    ExportedMetric("process_resident_memory_bytes", "gauge"),
    ExportedMetric("process_virtual_memory_bytes", "gauge"),
    ExportedMetric("process_open_fds", "gauge"),
    ExportedMetric("process_start_time_seconds", "gauge"),
    ExportedMetric("python_gc_objects_collected_total", "counter", ("generation",)),
    ExportedMetric("python_gc_collections_total", "counter", ("generation",)),
    ExportedMetric(
        "python_info", "gauge", ("implementation", "major", "minor", "patchlevel", "version")
    ),
)


def exported_series_names() -> frozenset[str]:
    """Every sample name the app's /metrics can contain."""
    return frozenset().union(*(m.series_names() for m in EXPORTED_METRICS))


def format_le(bound: float) -> str:
    """Format a bucket bound as prometheus_client writes the ``le`` label (``1`` -> ``"1.0"``).

    Prometheus 2.x compares label values as strings, so a rule must spell ``le`` exactly so.
    """
    return repr(float(bound))
