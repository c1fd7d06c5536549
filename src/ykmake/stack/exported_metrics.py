"""The metrics the app exports: the contract between the app, the rules and the dashboards.

They are the toolkit's own catalogue (:mod:`ykmake.monitoring.metrics.catalogue`): every
series also carries the ``app`` label and Prometheus adds ``job`` and ``instance``. Rules and
dashboards may query only these series (plus recorded rules and Prometheus' own ``up`` and
``ALERTS``); a unit test holds them to it, and an end-to-end test scrapes the app for them.
"""

from __future__ import annotations

from ykmake.monitoring.metrics.catalogue import (
    DB_BUCKETS,
    HTTP_BUCKETS,
    PROCESS_METRICS,
    SERVICE_LABEL,
    TOOLKIT_METRICS,
    MetricSpec,
)

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

ExportedMetric = MetricSpec
COMMON_LABELS = (SERVICE_LABEL,)
HTTP_DURATION_BUCKETS = HTTP_BUCKETS
DB_QUERY_BUCKETS = DB_BUCKETS
EXPORTED_METRICS: tuple[MetricSpec, ...] = (*TOOLKIT_METRICS, *PROCESS_METRICS)

# Series Prometheus itself creates for every target or alert; queries may use them too.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})


def exported_series_names() -> frozenset[str]:
    """Every sample name the app's /metrics can contain."""
    return frozenset().union(*(m.series_names() for m in EXPORTED_METRICS))


def format_le(bound: float) -> str:
    """Format a bucket bound as prometheus_client writes the ``le`` label (``1`` -> ``"1.0"``).

    Prometheus 2.x compares label values as strings, so a rule must spell ``le`` exactly so.
    """
    return repr(float(bound))
