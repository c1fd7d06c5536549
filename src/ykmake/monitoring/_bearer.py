"""Bearer-token checks shared by the toolkit's own HTTP endpoints (webhook, admin API)."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse

from ykmake.monitoring.metrics_endpoint import is_loopback as host_is_loopback

__all__ = ["bearer_matches", "forbidden", "is_loopback", "unauthorized"]


def bearer_matches(request: Request, token: bytes) -> bool:
    """True when the request carries ``Authorization: Bearer <token>`` (constant-time)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    given = credentials.strip().encode()
    # compare_digest on every request, even with the wrong scheme: no timing hint either way.
    matches = hmac.compare_digest(given, token)
    return scheme.lower() == "bearer" and matches


def is_loopback(request: Request) -> bool:
    """True when the direct peer is on this machine; the same test as ``/metrics`` uses."""
    return host_is_loopback(request.client.host if request.client else None)


def unauthorized(realm: str) -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized", "detail": "a valid bearer token is required"},
        status_code=401,
        headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
    )


def forbidden(detail: str) -> JSONResponse:
    return JSONResponse({"error": "forbidden", "detail": detail}, status_code=403)
