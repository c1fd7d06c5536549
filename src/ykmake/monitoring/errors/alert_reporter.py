"""The bridge from error capture to alerts: an ERROR alert for errors worth waking someone for,
durable before the failed request is answered (:class:`DurableCapture`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import traceback
from collections.abc import Awaitable, Mapping
from typing import Any, Final

from ykmake.monitoring.alerts.fingerprint import error_fingerprint
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity
from ykmake.monitoring.errors.capture import ErrorMonitor, ShouldAlert, default_should_alert
from ykmake.monitoring.logs.lines import get_request_context

__all__ = ["AlertReporter", "DurableCapture"]
_MAX_STACK = 2500
# A local fsync takes milliseconds; a disk that hangs must not hold the 500 for good.
_DURABLE_WAIT_SECONDS: Final = 5.0


class AlertReporter:
    """Hands the alert to the journal thread: the request never waits for the database."""

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


class DurableCapture:
    """The middleware's error hook: capture the error, then let the failed request wait, off
    the event loop, until its alert is durable (in the journal) before its 500 goes out.

    A process killed after the 500 has been sent has the alert on disk; the next process to
    start (or another worker) stores and delivers it. Only the failed request waits.
    """

    def __init__(self, monitor: ErrorMonitor, alerts: AlertService | None) -> None:
        self.monitor = monitor
        self.alerts = alerts

    def __call__(self, error: BaseException, context: dict[str, Any]) -> Awaitable[None] | None:
        self.monitor.capture_error(error, context)
        pending = self.alerts.until_durable() if self.alerts is not None else None
        return None if pending is None else self._wait(pending)

    async def _wait(self, pending: concurrent.futures.Future[None]) -> None:
        # asyncio.wait, not wait_for: a timeout must not cancel the journal write itself.
        done, _ = await asyncio.wait({asyncio.wrap_future(pending)}, timeout=_DURABLE_WAIT_SECONDS)
        if not done:
            self.monitor.log.warning(
                "alert not yet durable; answering anyway", waited_seconds=_DURABLE_WAIT_SECONDS
            )
