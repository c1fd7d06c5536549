"""The bridge from error capture to alerts: an ERROR alert for errors worth waking someone for,
durable before the failed request is answered (:class:`DurableCapture`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable
from typing import Any, Final

from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.stack_text import cut_middle
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity
from ykmake.monitoring.errors.capture import (
    ErrorMonitor,
    Occurrence,
    ShouldAlert,
    default_should_alert,
)
from ykmake.monitoring.logs.lines import bind_request_context, get_request_context

__all__ = ["AlertReporter", "DurableCapture"]
# The stored stack: a deep one keeps its first line and its innermost frames (the Slack
# message cuts it further, to fit its section).
_MAX_STACK: Final = 6000
# Context keys already in the details above, or (``path``) left to the lines: the route
# template says where, and a raw path may carry ids the alert is better without.
_MAPPED: Final = frozenset({"request_id", "route", "method", "status_code", "path"})
# A local fsync takes milliseconds; a disk that hangs must not hold the 500 for good.
_DURABLE_WAIT_SECONDS: Final = 5.0


class AlertReporter:
    """Raises an ERROR alert for the errors ``should_alert`` picks: the first of its kind in
    a window with its stack (on the error thread), a repeat as one more occurrence."""

    def __init__(
        self, service: AlertService, should_alert: ShouldAlert = default_should_alert
    ) -> None:
        self.service = service
        self.should_alert = should_alert

    def report(self, occurrence: Occurrence, stack: str) -> concurrent.futures.Future[None] | None:
        """The alert, with ``stack``, into the journal; the future is done once it is durable."""
        if not self.should_alert(occurrence.error, occurrence.context):
            return None
        details = _details(occurrence)
        details["stack"] = cut_middle(stack.rstrip("\n"), _MAX_STACK)
        return self.service.submit(
            Severity.ERROR,
            _title(occurrence),
            _message(occurrence.error),
            details,
            source=AlertSource.ERROR,
            fingerprint=occurrence.fingerprint,
        )

    def repeat(self, occurrence: Occurrence) -> None:
        """One more occurrence of the alert, with this request's details (no stack)."""
        if self.should_alert(occurrence.error, occurrence.context):
            self.service.add_occurrence(
                Severity.ERROR,
                _title(occurrence),
                _message(occurrence.error),
                _details(occurrence),
                source=AlertSource.ERROR,
                fingerprint=occurrence.fingerprint,
            )


def _title(occurrence: Occurrence) -> str:
    where = occurrence.context.get("route") or "the application"
    return f"{type(occurrence.error).__name__} in {where}"


def _message(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _details(occurrence: Occurrence) -> dict[str, Any]:
    """The toolkit's fields, then the caller's own (``order_id``…): the service redacts them
    all before they are stored."""
    request, context = get_request_context(), occurrence.context
    details: dict[str, Any] = {
        "request_id": request.get("request_id", context.get("request_id")),
        "route": context.get("route"),
        "method": context.get("method"),
        "status_code": context.get("status_code"),
        "error_type": type(occurrence.error).__name__,
        "sentry_event_id": occurrence.sentry_event_id,
        "user_id": request.get("user_id"),
    }
    details = {k: v for k, v in details.items() if v is not None}
    for key, value in context.items():
        if key not in _MAPPED:
            details.setdefault(key, value)
    return details


class DurableCapture:
    """The middleware's error hook: capture the error, mark the request's access line with its
    kind (``error_type``, ``fingerprint``), then let the failed request wait, off the event
    loop, until its alert is durable (in the journal) before its 500 goes out.

    A process killed after the 500 has been sent has the alert on disk; the next process to
    start (or another worker) stores and delivers it. Only the failed request waits, and only
    the first of its kind in a window: a repeat is one more occurrence, counted in memory and
    journalled within the second, and its access line is its line.
    """

    def __init__(self, monitor: ErrorMonitor) -> None:
        self.monitor = monitor

    def __call__(self, error: BaseException, context: dict[str, Any]) -> Awaitable[None] | None:
        captured = self.monitor.capture(error, context, repeat_line=False)
        bind_request_context(error_type=type(error).__name__, fingerprint=captured.fingerprint)
        durable = captured.durable
        return None if durable is None or durable.done() else self._wait(durable)

    async def _wait(self, durable: concurrent.futures.Future[None]) -> None:
        # asyncio.wait, not wait_for: a timeout must not cancel the journal write itself.
        done, _ = await asyncio.wait({asyncio.wrap_future(durable)}, timeout=_DURABLE_WAIT_SECONDS)
        if not done:
            self.monitor.log.warning(
                "alert not yet durable; answering anyway", waited_seconds=_DURABLE_WAIT_SECONDS
            )
