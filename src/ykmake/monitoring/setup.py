"""``setup_monitoring(app)``: the composition root, building only the parts switched on.

With nothing configured an app gets request ids, the access log under ``LOG_DIR`` and
``/metrics``: no database, no Sentry, no alert worker, nothing written elsewhere. Alerts,
Sentry, the Alertmanager intake and the admin API are each on when their settings say so
(see :mod:`.settings`), or when their parts are passed in (an engine for the alert store).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import sentry_sdk
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from ykmake.monitoring import alerts as alerts_package
from ykmake.monitoring.alerts.parts import AlertParts
from ykmake.monitoring.endpoints import endpoints
from ykmake.monitoring.errors import capture
from ykmake.monitoring.errors.alert_reporter import AlertReporter, DurableCapture
from ykmake.monitoring.errors.capture import ErrorMonitor, ShouldAlert, default_should_alert
from ykmake.monitoring.errors.sentry import SentryReporter, SentryTracer, init_sentry
from ykmake.monitoring.errors.windows import ErrorWindows
from ykmake.monitoring.exceptions import SettingsError
from ykmake.monitoring.http.client_address import ClientIPResolver
from ykmake.monitoring.http.middleware import ObservabilityMiddleware
from ykmake.monitoring.http.routes import route_template
from ykmake.monitoring.logs.lines import AccessLog, get_request_id
from ykmake.monitoring.logs.pipeline import LoggingConfig, LoggingRuntime, configure_logging
from ykmake.monitoring.metrics.event_loop import EventLoopLagMonitor
from ykmake.monitoring.metrics.families import MonitoringMetrics
from ykmake.monitoring.metrics.http import HttpMetrics
from ykmake.monitoring.metrics.multiprocess import (
    ProcessSampler,
    cleanup_dead_workers,
    mark_worker_dead,
    multiprocess_registry,
)
from ykmake.monitoring.openapi import extend_fastapi
from ykmake.monitoring.settings import MonitoringSettings

__all__ = ["Monitoring", "logging_config", "setup_monitoring"]

Hook = Callable[[], Awaitable[None]]
# Settings that only make sense with alerts on: one line naming them if alerts are off.
_NEED_ALERTS = ("slack_token", "slack_webhook_url", "alertmanager_webhook_token")


def logging_config(settings: MonitoringSettings) -> LoggingConfig:
    """The logging slice of the settings."""
    return LoggingConfig(
        service=settings.service_name,
        env=settings.environment,
        level=settings.effective_log_level,
        log_dir=settings.log_dir,
        max_bytes=settings.log_max_bytes,
        backup_count=settings.log_backup_count,
        console=settings.environment == "development" and not settings.log_to_stdout,
        json_to_stdout=settings.log_to_stdout,
        secrets=settings.secret_values(),
    )


class Monitoring:
    """The toolkit's parts for one app; ``app.state.monitoring`` holds it.

    ``alerts`` is None when alerts are off, ``tracer`` when Sentry is; the others are
    always there.
    """

    def __init__(
        self,
        settings: MonitoringSettings,
        *,
        engine: Engine | None = None,
        should_alert: ShouldAlert = default_should_alert,
        logging: LoggingRuntime | None = None,
        metrics: MonitoringMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.owns_logging = logging is None
        self.logging = logging or configure_logging(logging_config(settings))
        self.log = self.logging.get_logger("ykmake.monitoring")
        multiprocess_dir = settings.prometheus_multiproc_dir
        self.metrics = metrics or MonitoringMetrics(
            settings.service_name, multiprocess=multiprocess_dir is not None
        )
        self.logging.writer.count_drops(self.metrics.count_dropped_log_lines)
        self.sentry = init_sentry(settings)
        self.tracer = SentryTracer(settings.effective_traces_sample_rate) if self.sentry else None
        self.http = HttpMetrics(
            self.metrics.http,
            self.metrics.http_requests_in_progress,
            route_template,
            exemplars=settings.metrics_exemplars,
            trace_id=SentryTracer.trace_id if self.sentry else None,
        )
        self.alerts = self._build_alerts(engine)
        self.errors = ErrorMonitor(
            self.logging.get_logger("ykmake.monitoring.errors"),
            self.metrics.errors_total,
            windows=ErrorWindows(settings.error_window_seconds, settings.sentry_events_per_window),
            sentry=SentryReporter() if self.sentry else None,
            alerts=AlertReporter(self.alerts.service, should_alert) if self.alerts else None,
            sentry_dropped=self.metrics.sentry_events_dropped_total,
        )
        self.loop_lag = EventLoopLagMonitor(self.metrics.event_loop_lag_seconds)
        self.before_scrape: list[Callable[[], None]] = [self.http.refresh_in_progress]
        self.scrape_registry: Any = self.metrics.registry
        if multiprocess_dir is not None:
            cleanup_dead_workers(multiprocess_dir)
            self.scrape_registry = multiprocess_registry(multiprocess_dir)
            self.before_scrape.append(ProcessSampler(self.metrics.registry).sample)
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self._refresher: asyncio.Task[None] | None = None

    def _build_alerts(self, engine: Engine | None) -> AlertParts | None:
        settings = self.settings
        if engine is None and settings.alert_database_url is None:
            for name in _NEED_ALERTS:
                if getattr(settings, name) is not None:
                    msg = (
                        f"{name.upper()} is set but alerts are off: set ALERT_DATABASE_URL "
                        "(sqlite:///./alerts.db or postgresql://…) for the alert store"
                    )
                    raise SettingsError(msg)
            return None
        return AlertParts.build(
            settings,
            engine=engine,
            log=self.logging.get_logger("ykmake.monitoring.alerts"),
            notifications=self.metrics.alert_notifications_total,
            pending=self.metrics.alert_outbox_pending,
        )

    # -- what the app calls -------------------------------------------------------------
    def send_alert(
        self, severity: str, title: str, message: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The seed's ``sendAlert``: stored at once, delivered to Slack in the background.
        None when alerts are off (or the alert went to the spool)."""
        if self.alerts is None:
            return None
        return self.alerts.service.send_alert(severity, title, message, details)

    def capture_error(
        self,
        error: BaseException,
        context: Mapping[str, Any] | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Log, count and report an error; returns the Sentry event id, if any. ``extra``:
        your own fields (``order_id``…), in the line, Sentry and the alert's details."""
        return self.errors.capture_error(error, context, extra=extra)

    # -- what setup_monitoring wires --------------------------------------------------------
    def wrap(self, app: ASGIApp) -> ObservabilityMiddleware:
        """``app`` inside the middleware, configured from the settings."""
        return ObservabilityMiddleware(
            app,
            access_log=AccessLog(self.logging, "ykmake.monitoring.access"),
            metrics=self.http,
            on_error=DurableCapture(self.errors),
            client_ip=ClientIPResolver(self.settings.trusted_proxies),
            request_id_header=self.settings.request_id_header,
            skip_paths=(self.settings.metrics_path,),
            tracer=self.tracer,
            redactor=self.logging.redactor,
        )

    # -- lifespan ---------------------------------------------------------------------------
    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.logging.asyncio_exception_handler)
        self.loop_lag.start()
        if self.settings.prometheus_multiproc_dir is not None:
            self._refresher = loop.create_task(self._refresh_forever())
        capture.running.append(self.errors)
        if self.alerts is not None:
            alerts_package.running.append(self.alerts.service)
            self.alerts.worker.start()
        self.log.info("monitoring started", **self.parts_on())
        for hook in self.on_startup:
            await hook()

    def parts_on(self) -> dict[str, str]:
        """Which parts run, for the start-up line."""
        s, alerts = self.settings, self.alerts
        return {
            "alerts": "off" if alerts is None else f"slack: {alerts.sender.mode}",
            "sentry": "on" if self.sentry else "off",
            "alertmanager_webhook": "on" if alerts and s.alertmanager_webhook_token else "off",
            "admin_api": "on" if alerts and s.admin_token else "off",
        }

    async def shutdown(self) -> None:
        for hook in reversed(self.on_shutdown):
            try:
                await hook()
            except Exception as exc:  # noqa: BLE001 - one failing part must not stop the rest
                self.log.error("shutdown hook failed", error=repr(exc))
        # Errors captured so far reach their alerts (and Sentry) before those parts stop.
        await anyio.to_thread.run_sync(self.errors.flush)
        if self.alerts is not None:
            await self.alerts.worker.stop()
            self.alerts.close()
            alerts_package.running.remove(self.alerts.service)
        capture.running.remove(self.errors)
        if self.sentry:
            sentry_sdk.flush(timeout=2.0)
        await self.loop_lag.stop()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self.settings.prometheus_multiproc_dir is not None:
            mark_worker_dead(self.settings.prometheus_multiproc_dir)
        # From now on lines are written as they come, not by the thread: the server's own
        # last lines reach the files even when it is killed right after (uvicorn re-raises
        # SIGTERM once it has shut down, which skips atexit). Hooks stay until close().
        self.logging.writer.close()

    def close(self) -> None:
        """Drain and close what this app's monitoring owns (logging); for tests and tools."""
        if self.owns_logging:
            self.logging.close()

    async def _refresh_forever(self, interval: float = 1.0) -> None:
        """Multiprocess mode: a scrape reads every worker's files, so each worker keeps its
        sampled gauges (in progress, active users, process) current on its own."""
        while True:
            for hook in self.before_scrape:
                try:
                    hook()
                except Exception as exc:  # noqa: BLE001 - keep sampling the others
                    self.log.warning("metrics refresh failed", error=repr(exc))
            await asyncio.sleep(interval)


async def _json_500(_request: Request, _exc: Exception) -> Response:
    return JSONResponse(
        {"error": "internal_error", "request_id": get_request_id()}, status_code=500
    )


def _without_redundant_500(stack: ASGIApp) -> ASGIApp:
    """``stack`` without Starlette's ServerErrorMiddleware when all it would do is answer
    ``_json_500``: the middleware outside it answers an unhandled error with the same JSON
    500 itself, so it would be a second pass over every request for nothing. Kept in debug
    mode (its traceback page) and when the app's own 500 handler replaced ours."""
    if isinstance(stack, ServerErrorMiddleware) and stack.handler is _json_500 and not stack.debug:
        return stack.app
    return stack


def setup_monitoring(
    app: Starlette,
    settings: MonitoringSettings | None = None,
    *,
    engine: Engine | None = None,
    should_alert: ShouldAlert = default_should_alert,
    monitoring: Monitoring | None = None,
) -> Monitoring:
    """Instrument ``app``: the middleware outermost, ``/metrics``, the JSON 500, the parts
    that are on, and their start and stop in the app's lifespan.

    Args:
        app: a Starlette or FastAPI application.
        settings: the toolkit's settings; read from the environment when omitted.
        engine: a SQLAlchemy engine for the alert store (turns alerts on).
        should_alert: which captured errors raise an alert (default: status code >= 500).
        monitoring: parts built elsewhere (tests, several apps in one process).

    Raises:
        SettingsError: a setting is invalid, or needs a part that is off.
    """
    mon = monitoring or Monitoring(
        settings or MonitoringSettings.load(), engine=engine, should_alert=should_alert
    )
    app.state.monitoring = mon
    app.router.routes.extend(endpoints(mon))
    app.add_exception_handler(Exception, _json_500)
    extend_fastapi(app, mon)  # a FastAPI app's OpenAPI document and its 422s

    # Outermost, outside Starlette's ServerErrorMiddleware (if kept), so every response is seen.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: mon.wrap(  # type: ignore[method-assign]
        _without_redundant_500(build_stack())
    )

    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        await mon.startup()
        try:
            async with inner_lifespan(a) as state:
                yield state
        finally:
            await mon.shutdown()

    app.router.lifespan_context = lifespan
    return mon
