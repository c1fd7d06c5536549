"""Who may call the toolkit's own endpoints (``/metrics``, the webhook, the admin API).

One rule for all of them: ``Authorization: Bearer <token>`` compared in constant time when a
token is configured; without one, loopback peers only, and only outside production. A request
that carries a proxy's headers (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``, …) is not a
loopback peer's, even from 127.0.0.1: a reverse proxy on the same host connects from loopback
on behalf of anyone.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["BearerGuard", "is_loopback"]


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


# What reverse proxies add (nginx, Apache, HAProxy, Caddy, Traefik, Envoy: at least one each).
_PROXY_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
)


def _proxied(request: Request) -> bool:
    headers = request.headers
    return any(name in headers for name in _PROXY_HEADERS)


def _bearer(request: Request) -> bytes | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip().encode() if scheme.lower() == "bearer" else None


class BearerGuard:
    """Decides whether a request may reach one endpoint.

    Args:
        realm: named in ``WWW-Authenticate`` (``metrics``, ``alertmanager``, ``admin``).
        tokens: the accepted tokens; empty means none is configured.
        subject: what is guarded, as the 403's reason names it (``/metrics``).
        setting: the variable that configures the token, named in the 403's reason.
        loopback_without_token: with no token, let loopback peers in (never in production).
    """

    def __init__(
        self,
        realm: str,
        tokens: Sequence[str],
        *,
        subject: str,
        setting: str,
        loopback_without_token: bool,
    ) -> None:
        self.realm = realm
        self._tokens = tuple(t.encode() for t in tokens if t)
        self._subject, self._setting = subject, setting
        self._loopback_ok = loopback_without_token

    def denied(self, request: Request) -> Response | None:
        """None when the request may go on; otherwise the 401 or 403 to answer with."""
        if self._tokens:
            given = _bearer(request) or b""
            # Every token is compared, even after a match: no timing hint either way.
            matches = [hmac.compare_digest(given, token) for token in self._tokens]
            return None if any(matches) else self._unauthorized()
        client = request.client.host if request.client else None
        if self._loopback_ok and is_loopback(client) and not _proxied(request):
            return None
        where = (
            "served to loopback peers only, not through a proxy"
            if self._loopback_ok
            else "refused in production"
        )
        detail = f"no {self._setting} is configured; {self._subject} is {where}"
        return JSONResponse({"error": "forbidden", "detail": detail}, status_code=403)

    def _unauthorized(self) -> Response:
        return JSONResponse(
            {"error": "unauthorized", "detail": "a valid bearer token is required"},
            status_code=401,
            headers={"WWW-Authenticate": f'Bearer realm="{self.realm}"'},
        )
