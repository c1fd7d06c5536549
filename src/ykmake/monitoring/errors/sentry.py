"""Sentry, without its per-request cost.

sentry-sdk's automatic Starlette/FastAPI integrations wrap every request, even with tracing
off. They are turned off here and errors are reported from the toolkit's own capture
instead: a successful request pays nothing, an error is captured once (with the request id
as a tag) off the event loop, at most ``SENTRY_EVENTS_PER_WINDOW`` per kind of error and
window (:mod:`.windows`), and with tracing on only the sampled requests open a transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.modules import ModulesIntegration
from sentry_sdk.utils import event_from_exception

from ykmake.monitoring.errors.capture import Occurrence
from ykmake.monitoring.logs.lines import get_request_context
from ykmake.monitoring.logs.redaction import REDACTED, Redactor
from ykmake.monitoring.settings import MonitoringSettings

__all__ = ["SentryReporter", "SentryTracer", "event_scrubber", "init_sentry", "scrub_event"]

# Keys that are secret in an event (a session cookie, a CSRF token) if not in a log line.
_EVENT_KEYS = ("session", "csrf")
_shapes_only = Redactor(_EVENT_KEYS)

EventScrubber = Callable[[dict[str, Any], Mapping[str, Any] | None], dict[str, Any]]


def scrub_event(
    event: dict[str, Any],
    _hint: Mapping[str, Any] | None = None,
    *,
    redactor: Redactor = _shapes_only,
) -> dict[str, Any]:
    """``before_send``: secrets out of the whole event, by key and by value: exception
    values and messages, frame variables (reprs), breadcrumbs, extra, contexts, tags and the
    request (cookies and a raw body dropped whole)."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if isinstance(request.get("data"), str):
            request["data"] = REDACTED
    result: dict[str, Any] = redactor.redact(event)
    return result


def event_scrubber(settings: MonitoringSettings) -> EventScrubber:
    """:func:`scrub_event` that also masks the configured secrets' values."""
    redactor = Redactor(_EVENT_KEYS, secrets=settings.secret_values())
    return partial(scrub_event, redactor=redactor)


def init_sentry(settings: MonitoringSettings, *, log: Any = None) -> bool:
    """Initialise sentry-sdk when SENTRY_DSN is set; returns whether it is on."""
    if settings.sentry_dsn is None:
        return False
    scrubber = event_scrubber(settings)
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        release=settings.sentry_release,
        traces_sample_rate=settings.effective_traces_sample_rate,
        before_send=scrubber,  # type: ignore[arg-type]
        before_send_transaction=scrubber,  # type: ignore[arg-type]
        # Only cheap integrations: no ASGI wrapping, no logging hook (our own capture
        # reports each error once; a logging hook would report the error line again).
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[AtexitIntegration(), DedupeIntegration(), ModulesIntegration()],
    )
    if log is not None:
        log.info(
            "Sentry initialised",
            environment=settings.environment,
            traces_sample_rate=settings.effective_traces_sample_rate,
        )
    return True


class SentryReporter:
    """Sends a captured error to Sentry, tagged with its request: on the error thread (the
    event's frames, variables and scrubbing are the costly part of an error), under the event
    id the capture chose so the log line and the alert carry it too."""

    def report(self, occurrence: Occurrence) -> None:
        request, context = get_request_context(), occurrence.context
        client = sentry_sdk.get_client()
        event, hint = event_from_exception(occurrence.error, client_options=client.options)
        if occurrence.sentry_event_id is not None:
            event["event_id"] = occurrence.sentry_event_id
        with sentry_sdk.new_scope() as scope:
            for key in ("request_id", "route", "method"):
                value = request.get(key, context.get(key))
                if value is not None:
                    scope.set_tag(key, str(value))
            scope.set_tag("fingerprint", occurrence.fingerprint)
            if "user_id" in request:
                scope.set_user({"id": str(request["user_id"])})
            scope.set_context("error", {k: v for k, v in context.items() if k != "details"})
            scope.capture_event(event, hint=hint)


class SentryTracer:
    """Opens a Sentry transaction for a sampled fraction of requests, nothing for the rest."""

    def __init__(self, sample_rate: float) -> None:
        self.sample_rate = sample_rate

    def start(self, method: str, path: str) -> Any:
        if self.sample_rate <= 0.0 or random.random() >= self.sample_rate:
            return None
        transaction = sentry_sdk.start_transaction(
            op="http.server", name=f"{method} {path}", sampled=True
        )
        transaction.__enter__()
        return transaction

    @staticmethod
    def finish(transaction: Any, route: str, status: int) -> None:
        transaction.name = f"{transaction.name.split(' ', 1)[0]} {route}"
        transaction.set_http_status(status)
        transaction.__exit__(None, None, None)

    @staticmethod
    def trace_id() -> str | None:
        span = sentry_sdk.get_current_span()
        return span.trace_id if span is not None else None
