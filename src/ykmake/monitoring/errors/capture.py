"""Error capture: one place every error goes through, so none is reported twice.

``capture_error`` logs the error once (with the request id bound), counts it in
``errors_total``, and hands it to the optional reporters (Sentry, the alert service).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from prometheus_client import Counter

__all__ = [
    "ErrorMonitor",
    "ErrorReporter",
    "ShouldAlert",
    "capture_error",
    "default_should_alert",
]

ShouldAlert = Callable[[BaseException, Mapping[str, Any]], bool]


class ErrorReporter(Protocol):
    """Something that forwards a captured error (Sentry, alerts). Must not block or raise."""

    def report(
        self, error: BaseException, context: Mapping[str, Any], event_id: str | None
    ) -> str | None: ...


def default_should_alert(_error: BaseException, context: Mapping[str, Any]) -> bool:
    """The seed's rule: alert when the status code is 500 or more."""
    status = context.get("status_code")
    return isinstance(status, int) and status >= 500


def error_type(error: BaseException) -> str:
    return type(error).__name__


class ErrorMonitor:
    """Captures errors: log line, ``errors_total``, then each reporter in order.

    The first reporter that returns an event id (Sentry) passes it on to the next (alerts),
    so the log line, the Sentry event and the alert carry the same ids.
    """

    def __init__(
        self,
        log: Any,
        errors_total: Counter | None = None,
        reporters: list[ErrorReporter] | None = None,
    ) -> None:
        self.log = log
        self.errors_total = errors_total
        self.reporters = reporters if reporters is not None else []

    def capture_error(
        self,
        error: BaseException,
        context: Mapping[str, Any] | None = None,
        *,
        severity: str = "error",
    ) -> str | None:
        """Report ``error``; returns the Sentry event id when Sentry took it. Never raises."""
        ctx = dict(context or {})
        event_id: str | None = None
        for reporter in self.reporters:
            try:
                event_id = reporter.report(error, ctx, event_id) or event_id
            except Exception as exc:  # noqa: BLE001 - telemetry never breaks the host app
                self.log.warning(
                    "error reporter failed", reporter=type(reporter).__name__, error=repr(exc)
                )
        try:
            if self.errors_total is not None:
                self.errors_total.labels(error_type(error), severity).inc()
            self.log.error(
                str(error) or error_type(error),
                error_type=error_type(error),
                sentry_event_id=event_id,
                exc_info=error,
                **ctx,
            )
        except Exception:  # noqa: BLE001, S110 - never raise into the caller
            pass
        return event_id


# The monitors of the apps running in this process (started, not yet stopped), newest last.
running: list[ErrorMonitor] = []


def capture_error(error: BaseException, context: Mapping[str, Any] | None = None) -> str | None:
    """Report an error: Sentry (if configured), one log line, ``errors_total``, and an alert
    when ``should_alert`` says so. Returns the Sentry event id, if any. Never raises.

    Uses the app that is running (the latest started, if several are); without one it does
    nothing and returns None.
    """
    if not running:
        return None
    return running[-1].capture_error(error, context)
