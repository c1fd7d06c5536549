"""Hold rules and dashboards to the metrics that exist: exported (by the app or an exporter),
recorded, or Prometheus' own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ykmake.stack.exported_metrics import PROMETHEUS_SERIES, exported_series_names
from ykmake.stack.exporter_metrics import exporter_series_names
from ykmake.stack.promql import metric_names
from ykmake.stack.rules_alerts import symptom_alert_group
from ykmake.stack.rules_dependencies import dependency_alert_group
from ykmake.stack.rules_http import http_recording_group
from ykmake.stack.rules_slo import slo_rule_groups
from ykmake.stack.slo import SloSpec

__all__ = ["known_metric_names", "rule_groups", "rule_queries", "unknown_metrics"]


def rule_groups(spec: SloSpec) -> list[dict[str, Any]]:
    """Every generated rule group."""
    return [
        http_recording_group(spec),
        *slo_rule_groups(spec),
        symptom_alert_group(spec),
        dependency_alert_group(spec),
    ]


def rule_queries(spec: SloSpec) -> list[tuple[str, str]]:
    """(rule name, expr) of every generated rule."""
    return [
        (rule.get("record") or rule["alert"], rule["expr"])
        for group in rule_groups(spec)
        for rule in group["rules"]
    ]


def known_metric_names(spec: SloSpec) -> frozenset[str]:
    """Names a query may select: the app's and the exporters' series, our recorded series,
    ``up`` and ``ALERTS``."""
    recorded = {
        rule["record"] for g in rule_groups(spec) for rule in g["rules"] if "record" in rule
    }
    return exported_series_names() | exporter_series_names() | PROMETHEUS_SERIES | recorded


def unknown_metrics(
    queries: Iterable[tuple[str, str]], known: frozenset[str]
) -> list[tuple[str, str]]:
    """(where, metric) for each metric a query selects that is not in ``known``."""
    return [
        (where, name)
        for where, expr in queries
        for name in sorted(metric_names(expr))
        if name not in known
    ]
