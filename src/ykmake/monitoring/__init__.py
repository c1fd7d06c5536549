"""The YkMake monitoring toolkit, for any Starlette or FastAPI app.

``setup_monitoring(app)`` gives an app request ids, the access log and ``/metrics``; alerts
(a database and Slack), Sentry, the Alertmanager intake and the admin API switch on one by
one through :class:`MonitoringSettings`. The packages, by concern:

==========  =================================================================================
``http``    the middleware (one pass per request), route templates, client address, auth
``logs``    structlog pipeline, writer thread and rotation, request context, access line
``metrics`` metric families, HTTP/DB/active-users/event-loop recorders, ``/metrics``
``errors``  ``capture_error`` (one place every error goes through), Sentry
``alerts``  store with storm control, outbox, spool, Slack, Alertmanager intake, admin API
==========  =================================================================================

Names are imported lazily: importing one of them, or one submodule, does not load the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ykmake.monitoring.alerts import send_alert
    from ykmake.monitoring.alerts.vocabulary import Severity
    from ykmake.monitoring.errors.capture import capture_error, default_should_alert
    from ykmake.monitoring.http.middleware import ObservabilityMiddleware
    from ykmake.monitoring.logs.lines import bind_request_context, get_request_id
    from ykmake.monitoring.metrics.db import instrument_engine
    from ykmake.monitoring.metrics.families import MonitoringMetrics
    from ykmake.monitoring.settings import MonitoringSettings
    from ykmake.monitoring.setup import Monitoring, setup_monitoring

__all__ = [
    "Monitoring",
    "MonitoringMetrics",
    "MonitoringSettings",
    "ObservabilityMiddleware",
    "Severity",
    "bind_request_context",
    "capture_error",
    "default_should_alert",
    "get_request_id",
    "instrument_engine",
    "send_alert",
    "setup_monitoring",
]

_WHERE = {
    "Monitoring": "ykmake.monitoring.setup",
    "MonitoringMetrics": "ykmake.monitoring.metrics.families",
    "MonitoringSettings": "ykmake.monitoring.settings",
    "ObservabilityMiddleware": "ykmake.monitoring.http.middleware",
    "Severity": "ykmake.monitoring.alerts.vocabulary",
    "bind_request_context": "ykmake.monitoring.logs.lines",
    "capture_error": "ykmake.monitoring.errors.capture",
    "default_should_alert": "ykmake.monitoring.errors.capture",
    "get_request_id": "ykmake.monitoring.logs.lines",
    "instrument_engine": "ykmake.monitoring.metrics.db",
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
