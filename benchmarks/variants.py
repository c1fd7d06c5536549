"""The apps every HTTP benchmark compares: one FastAPI app, instrumented five ways.

Each variant is the same FastAPI app with ``routes`` GET routes (``/api/r{i}/items/{item_id}``,
an async handler returning a small JSON object); the benchmark hits the last one. Variants:

* ``bare``: nothing added.
* ``full``: ``setup_monitoring`` with everything this project does per request (request id,
  access log line written to a file under a temp ``LOG_DIR``, RED metrics with exemplars,
  error capture wiring and alerts on a SQLite store), configured as in production.
* ``full-nolog``: ``full`` with ``LOG_LEVEL=warning``: everything but the access line, to
  show what the line itself costs.
* ``full+sentry``: ``full`` with ``SENTRY_DSN`` set (an unreachable loopback port) and
  tracing off: a successful request should cost (almost) nothing more.
* ``handmade``: the smallest useful metrics middleware, written by hand: pure ASGI, a
  prometheus_client ``Counter`` and ``Histogram`` labelled with the route template read from
  ``scope["route"]``; no log line, no request id. A yardstick for what metrics alone cost.
* ``instrumentator``: prometheus-fastapi-instrumentator with its defaults.
* ``starlette-exporter``: ``PrometheusMiddleware(group_paths=True)``.
* ``otel``: OpenTelemetry's ASGI middleware with an SDK ``MeterProvider``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

__all__ = ["VARIANTS", "Built", "build", "monitored", "target_path"]

VARIANTS = (
    "bare",
    "full",
    "full-nolog",
    "full+sentry",
    "handmade",
    "instrumentator",
    "starlette-exporter",
    "otel",
)
# Port 9 (discard) refuses connections on loopback: Sentry is "on" but reaches nothing.
UNREACHABLE_DSN = "http://public@127.0.0.1:9/1"


@dataclass
class Built:
    """An app ready to serve and what to call once it is no longer needed."""

    app: Any
    close: Callable[[], None] = field(default=lambda: None)


def target_path(routes: int) -> str:
    return f"/api/r{routes - 1}/items/42"


def base_app(routes: int) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for i in range(routes):

        async def item(item_id: int) -> dict[str, int]:
            return {"item_id": item_id}

        app.add_api_route(f"/api/r{i}/items/{{item_id}}", item, methods=["GET"], name=f"r{i}")
    return app


def monitored(app: FastAPI, workdir: Path, *, dsn: str | None = None, log: bool = True) -> Built:
    """``app`` with ``setup_monitoring`` as in production: log files, the alert store and its
    journal in ``workdir``; Sentry on when ``dsn`` is given (traces off)."""
    from ykmake.monitoring.settings import MonitoringSettings
    from ykmake.monitoring.setup import setup_monitoring

    workdir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {
        "environment": "production",
        "metrics_token": "bench-token",
        "alert_database_url": f"sqlite:///{workdir / 'bench.db'}",
        "log_dir": workdir / "logs",
        "alert_spool_dir": workdir / "spool",
    }
    if dsn is not None:
        overrides |= {"sentry_dsn": dsn, "sentry_traces_sample_rate": 0.0}
    if not log:
        overrides["log_level"] = "warning"
    mon = setup_monitoring(app, MonitoringSettings.load(_env_file=None, **overrides))

    def close() -> None:
        with contextlib.suppress(Exception):
            mon.close()
        if mon.alerts is not None:
            mon.alerts.close()

    return Built(app, close)


def _full(routes: int, workdir: Path, *, sentry: bool = False, log: bool = True) -> Built:
    return monitored(base_app(routes), workdir, dsn=UNREACHABLE_DSN if sentry else None, log=log)


def _handmade(routes: int) -> Built:
    import time

    from prometheus_client import CollectorRegistry, Counter, Histogram

    from ykmake.monitoring.metrics.catalogue import HTTP_BUCKETS

    registry = CollectorRegistry()
    labels = ("method", "path", "status_code")
    requests = Counter("http_requests", "Requests.", labels, registry=registry)
    duration = Histogram(
        "http_request_duration_seconds", "Latency.", labels, registry=registry, buckets=HTTP_BUCKETS
    )
    inner = base_app(routes)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await inner(scope, receive, send_status)
        finally:
            route = scope.get("route")
            values = (scope["method"], getattr(route, "path", "unmatched"), str(status))
            requests.labels(*values).inc()
            duration.labels(*values).observe(time.perf_counter() - start)

    return Built(app)


def _instrumentator(routes: int) -> Built:
    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator

    app = base_app(routes)
    # Its own registry so several builds in one process don't collide on the global one.
    Instrumentator(registry=CollectorRegistry()).instrument(app)
    return Built(app)


def _starlette_exporter(routes: int) -> Built:
    from starlette_exporter import PrometheusMiddleware

    app = base_app(routes)
    app.add_middleware(PrometheusMiddleware, group_paths=True)
    return Built(app)


def _otel(routes: int) -> Built:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    app = base_app(routes)
    # Passed in, not set globally: a global provider would switch on FastAPI's own telemetry
    # bridge in every other variant built in the same process.
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    app.add_middleware(OpenTelemetryMiddleware, meter_provider=provider)
    return Built(app, provider.shutdown)


def build(variant: str, routes: int, workdir: Path) -> Built:
    """Build one variant; ``workdir`` holds its log files and database when it has any."""
    if variant == "bare":
        return Built(base_app(routes))
    if variant in ("full", "full+sentry", "full-nolog"):
        workdir.mkdir(parents=True, exist_ok=True)
        return _full(routes, workdir, sentry=variant == "full+sentry", log=variant != "full-nolog")
    if variant == "handmade":
        return _handmade(routes)
    if variant == "instrumentator":
        return _instrumentator(routes)
    if variant == "starlette-exporter":
        return _starlette_exporter(routes)
    if variant == "otel":
        return _otel(routes)
    msg = f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}"
    raise ValueError(msg)
