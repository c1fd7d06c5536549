"""The YkMake monitoring toolkit, for any Starlette or FastAPI app.

``setup_monitoring(app, settings)`` gives an app the access log, request ids, Prometheus
metrics and ``/metrics``, error capture (Sentry when configured), and durable Slack alerts.
Names are imported lazily, so importing one submodule does not load the whole toolkit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ykmake.monitoring.alerts import send_alert
    from ykmake.monitoring.alerts.service import AlertSeverity
    from ykmake.monitoring.db_metrics import instrument_engine
    from ykmake.monitoring.errors import capture_error, default_should_alert
    from ykmake.monitoring.logging_setup import LoggingConfig, configure_logging
    from ykmake.monitoring.metrics import MonitoringMetrics
    from ykmake.monitoring.middleware import ObservabilityMiddleware
    from ykmake.monitoring.request_context import bind_request_context, get_request_id
    from ykmake.monitoring.sentry import init_error_monitoring
    from ykmake.monitoring.setup import Monitoring, setup_monitoring

__all__ = [
    "AlertSeverity",
    "LoggingConfig",
    "Monitoring",
    "MonitoringMetrics",
    "ObservabilityMiddleware",
    "bind_request_context",
    "capture_error",
    "configure_logging",
    "default_should_alert",
    "get_request_id",
    "init_error_monitoring",
    "instrument_engine",
    "send_alert",
    "setup_monitoring",
]

_WHERE = {
    "AlertSeverity": "ykmake.monitoring.alerts.service",
    "LoggingConfig": "ykmake.monitoring.logging_setup",
    "Monitoring": "ykmake.monitoring.setup",
    "MonitoringMetrics": "ykmake.monitoring.metrics",
    "ObservabilityMiddleware": "ykmake.monitoring.middleware",
    "bind_request_context": "ykmake.monitoring.request_context",
    "capture_error": "ykmake.monitoring.errors",
    "configure_logging": "ykmake.monitoring.logging_setup",
    "default_should_alert": "ykmake.monitoring.errors",
    "get_request_id": "ykmake.monitoring.request_context",
    "init_error_monitoring": "ykmake.monitoring.sentry",
    "instrument_engine": "ykmake.monitoring.db_metrics",
    "send_alert": "ykmake.monitoring.alerts",
    "setup_monitoring": "ykmake.monitoring.setup",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module 'ykmake.monitoring' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
