"""``setup_monitoring(app, settings)``: everything this toolkit does, for any Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import sentry_sdk
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from ykmake.monitoring.access_log import AccessLog
from ykmake.monitoring.admin_api import admin_routes
from ykmake.monitoring.alertmanager import alertmanager_routes
from ykmake.monitoring.alerts import set_default_service
from ykmake.monitoring.alerts.outbox import OutboxWorker
from ykmake.monitoring.alerts.reporter import AlertReporter
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, Backoff
from ykmake.monitoring.client_ip import ClientIPResolver
from ykmake.monitoring.database import make_engine
from ykmake.monitoring.errors import (
    ErrorMonitor,
    ShouldAlert,
    default_should_alert,
    set_default_monitor,
)
from ykmake.monitoring.event_loop import EventLoopLagMonitor
from ykmake.monitoring.http_metrics import HttpMetricsRecorder
from ykmake.monitoring.logging_setup import LoggingConfig, LoggingRuntime, configure_logging
from ykmake.monitoring.metrics import MonitoringMetrics
from ykmake.monitoring.metrics_endpoint import MetricsEndpoint
from ykmake.monitoring.middleware import ObservabilityMiddleware
from ykmake.monitoring.multiprocess import (
    ProcessSampler,
    cleanup_dead_workers,
    mark_worker_dead,
    multiprocess_registry,
)
from ykmake.monitoring.request_context import get_request_id
from ykmake.monitoring.sentry import SentryReporter, SentryTracer, init_error_monitoring
from ykmake.monitoring.slack_delivery import SlackSender
from ykmake.settings import Settings

__all__ = ["Monitoring", "logging_config_from", "setup_monitoring"]

Hook = Callable[[], Awaitable[None]]


def logging_config_from(settings: Settings) -> LoggingConfig:
    return LoggingConfig(
        env=settings.ykmake_env,
        level=settings.effective_log_level,
        log_dir=settings.log_dir,
        max_bytes=settings.log_max_bytes,
        backup_count=settings.log_backup_count,
        console=settings.ykmake_env == "development" and not settings.log_to_stdout,
        json_to_stdout=settings.log_to_stdout,
    )


class Monitoring:
    """The toolkit's parts for one app; ``app.state.monitoring`` holds it."""

    def __init__(
        self,
        settings: Settings,
        *,
        logging_runtime: LoggingRuntime | None = None,
        metrics: MonitoringMetrics | None = None,
        engine: Engine | None = None,
        should_alert: ShouldAlert = default_should_alert,
    ) -> None:
        self.settings = settings
        self.should_alert = should_alert
        self.owns_logging = logging_runtime is None
        self.logging = logging_runtime or configure_logging(logging_config_from(settings))
        self.log = self.logging.get_logger("ykmake.monitoring")
        mp_dir = settings.prometheus_multiproc_dir
        self.metrics = metrics or MonitoringMetrics(multiprocess=mp_dir is not None)
        self.scrape_registry = self.metrics.registry
        self.http = HttpMetricsRecorder(self.metrics, exemplars=settings.metrics_exemplars)
        self.errors = ErrorMonitor(self.logging.get_logger("ykmake.errors"), self.metrics)
        self.loop_lag = EventLoopLagMonitor(self.metrics.event_loop_lag_seconds)
        self.metrics_path = "/metrics"
        self.before_scrape: list[Callable[[], None]] = [self.http.refresh_in_progress]
        self.on_startup: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self._refresher: asyncio.Task[None] | None = None
        self._build_alerts(engine)
        if mp_dir is not None:
            cleanup_dead_workers(mp_dir)
            self.scrape_registry = multiprocess_registry(mp_dir)
            self.before_scrape.append(ProcessSampler(self.metrics.registry).sample)

    def _build_alerts(self, engine: Engine | None) -> None:
        s = self.settings
        self.owns_engine = engine is None
        self.engine = engine if engine is not None else make_engine(s.database_url)
        self.sender = SlackSender(
            s.slack_token.get_secret_value() if s.slack_token else None,
            s.slack_channel,
            s.slack_webhook_url.get_secret_value() if s.slack_webhook_url else None,
            api_url=s.slack_api_url,
            timeout=s.slack_timeout_seconds,
        )
        store = AlertStore(
            self.engine,
            storm_window=timedelta(seconds=s.alert_storm_window_seconds),
            notify=self.sender.configured,
            backoff=Backoff(
                s.alert_backoff_base_seconds, s.alert_backoff_max_seconds, s.alert_max_attempts
            ),
        )
        store.create_tables()
        self.alerts = AlertService(
            store,
            AlertSpool(s.alert_spool_dir),
            self.sender,
            environment=s.ykmake_env,
            log=self.logging.get_logger("ykmake.alerts"),
        )
        self.outbox = OutboxWorker(
            self.alerts, metrics=self.metrics, interval=s.alert_worker_interval_seconds
        )
        self.alerts.on_recorded = self.outbox.wake
        self.sentry = init_error_monitoring(s, log=self.log)
        self.tracer = SentryTracer(s.effective_traces_sample_rate) if self.sentry else None
        if self.sentry:
            self.errors.reporters.append(SentryReporter())
            self.http.set_trace_id_getter(SentryTracer.trace_id)
        self.errors.reporters.append(AlertReporter(self.alerts, self.should_alert))
        set_default_service(self.alerts)
        set_default_monitor(self.errors)

    def send_alert(
        self, severity: str, title: str, message: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The seed's ``sendAlert``: stored at once, delivered to Slack in the background."""
        return self.alerts.send_alert(severity, title, message, details)

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

    def capture_error(
        self, error: BaseException, context: dict[str, Any] | None = None
    ) -> str | None:
        return self.errors.capture_error(error, context)

    def metrics_endpoint(self) -> MetricsEndpoint:
        s = self.settings
        tokens = [t.get_secret_value() for t in (s.metrics_token, s.admin_token) if t is not None]
        return MetricsEndpoint(
            self.metrics,
            registry=self.scrape_registry,
            tokens=tokens,
            allow_loopback_without_token=not s.is_production,
            before_scrape=self.before_scrape,
        )

    def wrap(self, app: ASGIApp) -> ObservabilityMiddleware:
        s = self.settings
        return ObservabilityMiddleware(
            app,
            access_log=AccessLog(self.logging),
            metrics=self.http,
            on_error=self.errors.capture_error,
            client_ip=ClientIPResolver(s.trusted_proxies),
            request_id_header=s.request_id_header,
            skip_paths=(self.metrics_path,),
            tracer=self.tracer,
        )

    async def startup(self) -> None:
        asyncio.get_running_loop().set_exception_handler(self.logging.asyncio_exception_handler)
        self.loop_lag.start()
        if self.settings.prometheus_multiproc_dir is not None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())
        if not self.sender.configured:
            self.log.warning(
                "Slack not configured (SLACK_TOKEN + SLACK_CHANNEL or SLACK_WEBHOOK_URL); "
                "alerts are stored but not sent"
            )
        self.outbox.start()
        for hook in self.on_startup:
            await hook()

    async def shutdown(self) -> None:
        for hook in reversed(self.on_shutdown):
            try:
                await hook()
            except Exception as exc:  # noqa: BLE001 - one failing part must not stop the rest
                self.log.error("shutdown hook failed", error=repr(exc))
        await self.outbox.stop()
        self.alerts.close()
        if self.sentry:
            sentry_sdk.flush(timeout=2.0)
        if self.owns_engine:
            self.engine.dispose()
        await self.loop_lag.stop()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self.settings.prometheus_multiproc_dir is not None:
            mark_worker_dead(self.settings.prometheus_multiproc_dir)
        if self.owns_logging:
            self.logging.close()


async def _json_500(_request: Request, _exc: Exception) -> Response:
    return JSONResponse(
        {"error": "internal_error", "request_id": get_request_id()}, status_code=500
    )


def _without_redundant_500(stack: ASGIApp) -> ASGIApp:
    """``stack`` without Starlette's ServerErrorMiddleware when all it would do is answer
    ``_json_500``: the middleware outside it answers an unhandled error with the same JSON
    500 itself, and the second pass over every request costs about 8k instructions. Kept
    in debug mode (its traceback page) and when the app's own 500 handler replaced ours."""
    if isinstance(stack, ServerErrorMiddleware) and stack.handler is _json_500 and not stack.debug:
        return stack.app
    return stack


def setup_monitoring(
    app: Starlette,
    settings: Settings,
    *,
    metrics_path: str = "/metrics",
    monitoring: Monitoring | None = None,
    engine: Engine | None = None,
    should_alert: ShouldAlert = default_should_alert,
) -> Monitoring:
    """Instrument ``app``: the middleware outermost, /metrics, the JSON 500, lifespan hooks.

    Args:
        app: a Starlette or FastAPI application.
        settings: the one settings object.
        metrics_path: where to serve the metrics (not counted in the metrics themselves).
        monitoring: reuse parts built elsewhere (tests, several apps in one process).
        engine: the database for the alert store (one is made from DATABASE_URL if omitted).
        should_alert: which captured errors raise an alert (default: status code >= 500).
    """
    mon = monitoring or Monitoring(settings, engine=engine, should_alert=should_alert)
    mon.metrics_path = metrics_path
    app.state.monitoring = mon
    app.add_route(
        metrics_path, mon.metrics_endpoint().handle, methods=["GET"], include_in_schema=False
    )
    app.add_exception_handler(Exception, _json_500)
    # POST /api/alertmanager/webhook and /api/admin/alerts…: both guarded by their tokens.
    app.router.routes.extend(alertmanager_routes(mon.alerts, settings))
    app.router.routes.extend(admin_routes(mon.alerts, settings))

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
