"""Error capture: one place every error goes through, so none is reported twice — and an
error storm costs a counter and a line per repeat, not a traceback walk and a Sentry event.

On the caller's thread (the event loop, for a request) ``capture`` does only what is cheap:
the error's kind (:mod:`.fingerprint`), whether its window has seen it (:mod:`.windows`),
``errors_total`` + 1, and for a repeat a line without the traceback and an occurrence on its
alert. The heavy work runs once per kind and window, in the error thread: the traceback
rendered once (for the log line and the alert's stack), the alert made durable, the Sentry
event built and scrubbed. Sentry's event id is chosen up front, so the caller, the log line
and the alert all carry it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import Counter

from ykmake.monitoring.errors.fingerprint import error_fingerprint
from ykmake.monitoring.errors.windows import ErrorWindows, Sighting

__all__ = [
    "Captured",
    "ErrorMonitor",
    "Occurrence",
    "ShouldAlert",
    "capture_error",
    "default_should_alert",
]

ShouldAlert = Callable[[BaseException, Mapping[str, Any]], bool]


def default_should_alert(_error: BaseException, context: Mapping[str, Any]) -> bool:
    """The seed's rule: alert when the status code is 500 or more."""
    status = context.get("status_code")
    return isinstance(status, int) and status >= 500


def error_type(error: BaseException) -> str:
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One captured error: what the reporters are given."""

    error: BaseException
    context: dict[str, Any]  # the caller's (route, method, status_code, your own, extra)
    fingerprint: str
    new: bool  # the first of its kind in the window: the whole treatment
    sentry_event_id: str | None  # set when Sentry takes this one


@dataclass(frozen=True, slots=True)
class Captured:
    """What ``capture`` did: the error's kind, Sentry's event id, and ``durable``, a future
    done once the alert is on disk (None when there is nothing to wait for)."""

    fingerprint: str | None
    event_id: str | None
    durable: concurrent.futures.Future[None] | None


class SentryReporting(Protocol):
    def report(self, occurrence: Occurrence) -> None: ...


class AlertReporting(Protocol):
    def report(
        self, occurrence: Occurrence, stack: str
    ) -> concurrent.futures.Future[None] | None: ...

    def repeat(self, occurrence: Occurrence) -> None: ...


class ErrorMonitor:
    """Captures errors (see the module docstring).

    Args:
        log: the error lines' logger.
        errors_total: ``errors_total{type,severity}``.
        windows: what each kind of error has had in its window.
        sentry: sends events (on the error thread); None when Sentry is off.
        alerts: raises alerts; None when alerts are off.
        sentry_dropped: counts the events the window's budget kept from Sentry.
    """

    def __init__(
        self,
        log: Any,
        errors_total: Counter | None = None,
        *,
        windows: ErrorWindows | None = None,
        sentry: SentryReporting | None = None,
        alerts: AlertReporting | None = None,
        sentry_dropped: Counter | None = None,
    ) -> None:
        self.log = log
        self.errors_total = errors_total
        self.windows = windows or ErrorWindows(60.0, 5)
        self.sentry = sentry
        self.alerts = alerts
        self.sentry_dropped = sentry_dropped
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "ykmake-errors")
        self._error_counters: dict[tuple[str, str], Counter] = {}  # errors_total's children

    def capture_error(
        self,
        error: BaseException,
        context: Mapping[str, Any] | None = None,
        *,
        severity: str = "error",
        extra: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Report ``error``; returns the Sentry event id when Sentry takes it. Never raises.

        Args:
            context: what happened (``status_code``, ``route``, ``method``, your own fields).
            extra: more fields, such as ``order_id`` (a key of ``context`` wins). Both go
                into the error line, the Sentry event and the alert's details, redacted.
        """
        return self.capture(error, context, severity=severity, extra=extra).event_id

    def capture(
        self,
        error: BaseException,
        context: Mapping[str, Any] | None = None,
        *,
        severity: str = "error",
        repeat_line: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> Captured:
        """:meth:`capture_error`, and a future for the alert's durability. ``repeat_line``:
        whether a repeat gets an error line of its own (a request's has its access line).
        Never raises."""
        try:
            occurrence = self._occurrence(error, {**(extra or {}), **(context or {})})
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks the host app
            self.log.warning("error capture failed", error=repr(exc))
            return Captured(None, None, None)
        self._count(error, severity)
        durable = None
        if occurrence.new or occurrence.sentry_event_id:
            durable = concurrent.futures.Future[None]()
            # The caller's context goes along: its request id, its Sentry scope.
            context_copy = contextvars.copy_context()
            self._thread.submit(context_copy.run, self._report, occurrence, durable)
        if not occurrence.new:
            self._repeat(occurrence, repeat_line)
        durable = durable if occurrence.new else None
        return Captured(occurrence.fingerprint, occurrence.sentry_event_id, durable)

    def _occurrence(self, error: BaseException, context: dict[str, Any]) -> Occurrence:
        fingerprint = error_fingerprint(error)
        sighting: Sighting = self.windows.see(fingerprint, sentry=self.sentry is not None)
        if self.sentry is not None and not sighting.to_sentry and self.sentry_dropped:
            self.sentry_dropped.inc()
        event_id = uuid.uuid4().hex if sighting.to_sentry else None
        return Occurrence(error, context, fingerprint, sighting.new, event_id)

    def _count(self, error: BaseException, severity: str) -> None:
        if self.errors_total is None:
            return
        key = (error_type(error), severity)
        with contextlib.suppress(Exception):  # never raise into the caller
            child = self._error_counters.get(key)
            if child is None:
                child = self._error_counters[key] = self.errors_total.labels(*key)
            child.inc()

    def _repeat(self, occurrence: Occurrence, line: bool) -> None:
        """A repeat in its window: an occurrence on the alert, a ``line`` without the
        traceback."""
        try:
            if self.alerts is not None:
                self.alerts.repeat(occurrence)
            if line:
                self._line(occurrence, repeat=True)
        except Exception as exc:  # noqa: BLE001 - never raise into the caller
            self.log.warning("error capture failed", error=repr(exc))

    # -- on the error thread ----------------------------------------------------------------
    def _report(self, occurrence: Occurrence, durable: concurrent.futures.Future[None]) -> None:
        """The heavy part: alert first (a request may be waiting for it), then the line with
        the traceback, then Sentry."""
        journal = None
        try:
            if occurrence.new:
                stack = "".join(traceback.format_exception(occurrence.error))
                journal = self._alert(occurrence, stack)
                self._line_with_traceback(occurrence, stack)
        finally:
            if journal is None:
                _resolve(durable)
            else:
                journal.add_done_callback(lambda _f: _resolve(durable))
        if occurrence.sentry_event_id is not None and self.sentry is not None:
            try:
                self.sentry.report(occurrence)
            except Exception as exc:  # noqa: BLE001 - telemetry never breaks the host app
                self.log.warning("Sentry report failed", error=repr(exc))

    def _alert(self, occurrence: Occurrence, stack: str) -> concurrent.futures.Future[None] | None:
        """The alert handed to the journal; the future is done once it is durable."""
        if self.alerts is None:
            return None
        try:
            return self.alerts.report(occurrence, stack)
        except Exception as exc:  # noqa: BLE001 - the error line still tells
            self.log.warning("alert for an error failed", error=repr(exc))
            return None

    def _line_with_traceback(self, occurrence: Occurrence, stack: str) -> None:
        with contextlib.suppress(Exception):  # never raise
            self._line(occurrence, exception=stack)

    def _line(self, occurrence: Occurrence, **own: Any) -> None:
        """The error line: the caller's fields, then the error's kind and ids, then ``own``."""
        error = occurrence.error
        self.log.error(
            str(error) or error_type(error),
            **_line_fields(
                occurrence.context,
                error_type=error_type(error),
                fingerprint=occurrence.fingerprint,
                sentry_event_id=occurrence.sentry_event_id,
                **own,
            ),
        )

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout``) for the reports captured so far: the thread takes them
        in order, so the last one queued is the last done."""
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._thread.submit(lambda: None).result(timeout)


def _line_fields(context: Mapping[str, Any], **own: Any) -> dict[str, Any]:
    """The caller's fields, then the line's own: a caller's ``error_type`` or ``event`` must
    not cost the line (a keyword given twice is a TypeError)."""
    fields = {k: v for k, v in context.items() if k != "event"}
    fields.update(own)
    return fields


def _resolve(future: concurrent.futures.Future[None]) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # done already
        future.set_result(None)


# The monitors of the apps running in this process (started, not yet stopped), newest last.
running: list[ErrorMonitor] = []


def capture_error(
    error: BaseException,
    context: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> str | None:
    """Report an error: one log line, ``errors_total``, Sentry (if configured) and an alert
    when ``should_alert`` says so. Returns the Sentry event id, if any. Never raises.

    ``context`` says what happened (``status_code``…), ``extra`` adds your own fields
    (``order_id``…; a key of ``context`` wins): both reach the line, Sentry and the alert's
    details, redacted.

    Uses the app that is running (the latest started, if several are); without one it does
    nothing and returns None.
    """
    if not running:
        return None
    return running[-1].capture_error(error, context, extra=extra)
