"""Sentry, without its per-request cost.

sentry-sdk's automatic Starlette/FastAPI integrations wrap every request, even with tracing
off. They are turned off here and errors are reported from the toolkit's own capture
instead: a successful request pays nothing, an error is captured once (with the request id
as a tag), and with tracing on only the sampled requests open a transaction.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.atexit import AtexitIntegration
from sentry_sdk.integrations.dedupe import DedupeIntegration
from sentry_sdk.integrations.modules import ModulesIntegration

from ykmake.monitoring.logs.lines import get_request_context
from ykmake.monitoring.logs.redaction import REDACTED, Redactor
from ykmake.monitoring.settings import MonitoringSettings

__all__ = ["SentryReporter", "SentryTracer", "init_sentry", "scrub_event"]

_redactor = Redactor(extra_keys=["session", "csrf"])
# Local variables reach Sentry as reprs, where key-based redaction can't see a header value:
# catch the shapes secrets take in them (bearer credentials, session-like cookie pairs).
_SECRET_VALUE = re.compile(
    r"(?i)(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]+"
    r"|\b(session\w*|sid|csrf\w*|token|auth\w*|jwt|password|secret)=[^;\s'\",]+"
)


def _scrub_text(text: str) -> str:
    return _SECRET_VALUE.sub(lambda m: f"{m.group(1) or m.group(2)} {REDACTED}", text)


def _scrub_frames(event: dict[str, Any]) -> None:
    for holder in ("exception", "threads"):
        for value in (event.get(holder) or {}).get("values") or []:
            for frame in (value.get("stacktrace") or {}).get("frames") or []:
                variables = frame.get("vars")
                if isinstance(variables, dict):
                    for name, var in variables.items():
                        if isinstance(var, str):
                            variables[name] = _scrub_text(var)


def scrub_event(event: dict[str, Any], _hint: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``before_send``: secrets out of headers, cookies, bodies, extras and breadcrumbs."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        if isinstance(request.get("data"), str):
            request["data"] = REDACTED
    _scrub_frames(event)
    result: dict[str, Any] = _redactor.redact(event)
    return result


def init_sentry(settings: MonitoringSettings, *, log: Any = None) -> bool:
    """Initialise sentry-sdk when SENTRY_DSN is set; returns whether it is on."""
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        release=settings.sentry_release,
        traces_sample_rate=settings.effective_traces_sample_rate,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
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
    """ErrorMonitor reporter: one Sentry event per captured error, tagged with the request."""

    def report(
        self, error: BaseException, context: Mapping[str, Any], event_id: str | None
    ) -> str | None:
        ctx = get_request_context()
        with sentry_sdk.new_scope() as scope:
            for key in ("request_id", "route", "method"):
                value = ctx.get(key, context.get(key))
                if value is not None:
                    scope.set_tag(key, str(value))
            if "user_id" in ctx:
                scope.set_user({"id": str(ctx["user_id"])})
            scope.set_context("error", {k: v for k, v in context.items() if k != "details"})
            return scope.capture_exception(error)


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
