"""The bridge from error capture to alerts: an ERROR alert for errors worth waking someone for."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from ykmake.monitoring.alerts.fingerprint import error_fingerprint
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity
from ykmake.monitoring.errors.capture import ShouldAlert, default_should_alert
from ykmake.monitoring.logs.lines import get_request_context

__all__ = ["AlertReporter"]
_MAX_STACK = 2500


class AlertReporter:
    """Queues the alert on the alert thread: the request never waits for the database."""

    def __init__(
        self, service: AlertService, should_alert: ShouldAlert = default_should_alert
    ) -> None:
        self.service = service
        self.should_alert = should_alert

    def report(
        self, error: BaseException, context: Mapping[str, Any], event_id: str | None
    ) -> str | None:
        if not self.should_alert(error, context):
            return None
        request = get_request_context()
        stack = "".join(traceback.format_exception(error))[-_MAX_STACK:]
        details: dict[str, Any] = {
            "request_id": request.get("request_id", context.get("request_id")),
            "route": context.get("route"),
            "method": context.get("method"),
            "status_code": context.get("status_code"),
            "error_type": type(error).__name__,
            "sentry_event_id": event_id,
            "stack": stack,
        }
        if "user_id" in request:
            details["user_id"] = request["user_id"]
        self.service.submit(
            Severity.ERROR,
            f"{type(error).__name__} in {context.get('route') or 'the application'}",
            str(error) or type(error).__name__,
            {k: v for k, v in details.items() if v is not None},
            source=AlertSource.ERROR,
            fingerprint=error_fingerprint(error),
        )
        return None
