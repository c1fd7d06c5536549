"""GET /metrics, protected as the seed's ``requireAdmin`` intends but usable by Prometheus.

Access: ``Authorization: Bearer <METRICS_TOKEN or ADMIN_TOKEN>`` (constant-time compare).
With no token configured: loopback clients only outside production, 403 in production.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache

import anyio.to_thread
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ykmake.monitoring.exposition import choose_format, render
from ykmake.monitoring.metrics import MonitoringMetrics

__all__ = ["MetricsEndpoint"]


@lru_cache(maxsize=1024)
def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1, and IPv4 loopback as a dual-stack socket reports it (::ffff:127.x)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class MetricsEndpoint:
    """A Starlette endpoint rendering the registry off the event loop."""

    def __init__(
        self,
        metrics: MonitoringMetrics,
        *,
        registry: CollectorRegistry | None = None,
        tokens: Sequence[str] = (),
        allow_loopback_without_token: bool = True,
        before_scrape: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.metrics = metrics
        self.registry = registry if registry is not None else metrics.registry
        self._tokens = tuple(t.encode() for t in tokens if t)
        self._loopback_ok = allow_loopback_without_token
        # Kept, not copied: parts built after the endpoint (active users) add their hooks.
        self._before = before_scrape

    def _authorized(self, request: Request) -> Response | None:
        if self._tokens:
            auth = request.headers.get("authorization", "")
            scheme, _, credentials = auth.partition(" ")
            given = credentials.strip().encode()
            if scheme.lower() == "bearer" and any(
                hmac.compare_digest(given, t) for t in self._tokens
            ):
                return None
            return JSONResponse(
                {"error": "unauthorized", "detail": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        client = request.client.host if request.client else None
        if self._loopback_ok and is_loopback(client):
            return None
        where = "served to loopback only" if self._loopback_ok else "refused in production"
        detail = f"no METRICS_TOKEN or ADMIN_TOKEN is configured; /metrics is {where}"
        return JSONResponse({"error": "forbidden", "detail": detail}, status_code=403)

    def _scrape(self, openmetrics: bool) -> bytes:
        for hook in self._before:
            hook()
        return render(
            self.registry, const_labels=self.metrics.const_labels, openmetrics=openmetrics
        )

    async def handle(self, request: Request) -> Response:
        denied = self._authorized(request)
        if denied is not None:
            return denied
        openmetrics, content_type = choose_format(request.headers.get("accept"))
        # In a worker thread: the loop keeps serving requests while the scrape renders.
        body = await anyio.to_thread.run_sync(self._scrape, openmetrics)
        return Response(body, media_type=None, headers={"Content-Type": content_type})
