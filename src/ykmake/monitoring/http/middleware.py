"""ObservabilityMiddleware: one pure ASGI pass per request, outermost.

On the way in: a request id (the client's ``X-Request-ID`` when it is safe, a new one
otherwise: one with characters outside ``[A-Za-z0-9._:@+=/-]``, longer than 128, or that
looks like a secret or is one of the configured secrets, since the id is written to every
line, the Sentry event, the alert and Slack), the request context, a timer. On the way
out, once, from that one timing: the access line (:mod:`ykmake.monitoring.logs.lines`),
the RED metrics (:mod:`ykmake.monitoring.metrics.http`), both under the route template
(:mod:`.routes`), and the ``X-Request-ID`` response header. An unhandled exception goes to
error capture once and becomes a JSON 500 that carries the request id and no stack trace.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, Protocol

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ykmake.monitoring.http.client_address import ClientIPResolver
from ykmake.monitoring.http.disconnect import GoneCheck, checker_for
from ykmake.monitoring.http.routes import route_template
from ykmake.monitoring.logs.lines import AccessLog, RequestContext, end_request, start_request
from ykmake.monitoring.logs.redaction import Redactor
from ykmake.monitoring.metrics.http import HttpMetrics

__all__ = ["ObservabilityMiddleware", "new_request_id"]

_SAFE_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")
# Error capture; what it returns, if anything, is awaited before the 500 goes out.
ErrorHook = Callable[[BaseException, dict[str, Any]], Awaitable[None] | None]


# Request ids come from the OS's CSPRNG 256 at a time: each urandom call is a system call,
# so a request takes a list pop instead. A forked worker starts with an empty pool, so it
# never hands out its parent's ids.
_POOL_SIZE: Final = 256
_pool: list[str] = []
os.register_at_fork(after_in_child=_pool.clear)


def new_request_id() -> str:
    """32 random hex digits."""
    if not _pool:
        _pool.extend(os.urandom(16 * _POOL_SIZE).hex(" ", 16).split())
    return _pool.pop()


class Tracer(Protocol):
    """What the middleware needs of a tracer (Sentry's, when traces are sampled)."""

    def start(self, method: str, path: str) -> Any:
        """A transaction for this request, or None when it is not sampled."""

    def finish(self, transaction: Any, route: str, status: int) -> None:
        """Close the transaction under the route template."""


class _Exchange:
    """One request's state, from its first byte to its access line."""

    __slots__ = (
        "client_gone",
        "context",
        "forwarded_for",
        "gone_check",
        "id_header",
        "receive",
        "request_id",
        "send_downstream",
        "started",
        "status",
        "user_agent",
    )

    def __init__(self, receive: Receive, send: Send, gone_check: GoneCheck) -> None:
        self.started = time.perf_counter()
        self.receive = receive
        self.gone_check = gone_check
        self.send_downstream = send
        self.status: int | None = None  # None until the response started
        self.client_gone: bool | None = None  # None until the last body went out
        self.request_id = ""
        self.id_header: tuple[bytes, bytes] = (b"", b"")
        self.context: RequestContext = {}
        self.user_agent: str | None = None
        self.forwarded_for: bytes | None = None

    def send(self, message: Message) -> Awaitable[None]:
        """The app's ``send``: notes the status, adds the request id header, and checks for
        a client that left just before the last body goes out (one that leaves later left in
        time). A plain function handing back ``send``'s awaitable: no coroutine per message."""
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.id_header]
        elif kind == "http.response.body" and not message.get("more_body"):
            self.client_gone = self.gone_check(self.receive)
        return self.send_downstream(message)


class ObservabilityMiddleware:
    """Request id, access log, RED metrics and error capture in one pass.

    Args:
        app: the ASGI app to wrap.
        access_log: writes the access line; None for no access line.
        metrics: records the RED metrics; None for no metrics.
        on_error: error capture, called once per unhandled exception with its context; an
            awaitable it returns is awaited before the 500 is sent.
        client_ip: resolves the client's address behind trusted proxies.
        request_id_header: read from the request, and set on the response.
        skip_paths: passed through untouched: not counted, not logged (``/metrics``).
        tracer: opens a transaction for the requests it samples.
        redactor: tells a client's request id that is a secret (then replaced by a new id);
            give it the configured secrets (the logging pipeline's redactor has them).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog | None = None,
        metrics: HttpMetrics | None = None,
        on_error: ErrorHook | None = None,
        client_ip: ClientIPResolver | None = None,
        request_id_header: str = "X-Request-ID",
        skip_paths: Iterable[str] = ("/metrics",),
        tracer: Tracer | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log if access_log is not None and access_log.enabled else None
        self.metrics = metrics
        self.on_error = on_error
        self.client_ip = client_ip or ClientIPResolver()
        self.header = request_id_header.lower().encode("latin-1")
        self.skip_paths = frozenset(skip_paths)
        self.tracer = tracer
        self.redactor = redactor or Redactor()
        # How to tell a client that left, per class of the server's request cycle.
        self._gone_checks: dict[type, GoneCheck] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        exchange = self._begin(scope, receive, send)
        token = start_request(exchange.context)
        transaction = self.tracer.start(scope["method"], scope["path"]) if self.tracer else None
        try:
            await self.app(scope, receive, exchange.send)
        except Exception as exc:  # noqa: BLE001 - captured once here, answered as a JSON 500
            await self._fail(exc, scope, exchange)
        finally:
            end_request(token)
            self._finish(scope, exchange, transaction)

    def _begin(self, scope: Scope, receive: Receive, send: Send) -> _Exchange:
        server = type(getattr(receive, "__self__", None))
        gone_check = self._gone_checks.get(server)
        if gone_check is None:  # the first request this server sends: decide once
            gone_check = self._gone_checks[server] = checker_for(receive)
        exchange = _Exchange(receive, send, gone_check)
        raw_id = None
        for name, value in scope["headers"]:  # the three headers wanted, in one pass
            if name == self.header:
                raw_id = value
            elif name == b"user-agent":
                exchange.user_agent = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                exchange.forwarded_for = value
        if raw_id is None or not self._usable_id(raw_id):
            exchange.request_id = new_request_id()
            raw_id = exchange.request_id.encode()
        else:
            exchange.request_id = raw_id.decode()
        exchange.id_header = (self.header, raw_id)
        exchange.context = {"request_id": exchange.request_id}
        if self.metrics is not None:
            self.metrics.started(scope)
        return exchange

    def _usable_id(self, raw_id: bytes) -> bool:
        """A client's id is kept when it is safe to write anywhere, and no secret."""
        if _SAFE_REQUEST_ID.fullmatch(raw_id) is None:
            return False
        return not self.redactor.contains_secret(raw_id.decode())

    def _finish(self, scope: Scope, exchange: _Exchange, transaction: Any) -> None:
        """One timing, then the metrics and the access line from it. Never raises."""
        seconds = time.perf_counter() - exchange.started
        status = 500 if exchange.status is None else exchange.status  # no response: a 500
        route = "unmatched"
        try:
            route = route_template(scope)
            if self.metrics is not None:
                self.metrics.finished(scope, route, status, seconds, exchange.request_id)
            if self.access_log is not None:
                self._log(self.access_log, scope, exchange, route, seconds)
        except Exception:  # noqa: BLE001, S110 - telemetry never breaks the request
            pass
        if transaction is not None and self.tracer is not None:
            self.tracer.finish(transaction, route, status)

    def _log(
        self, access_log: AccessLog, scope: Scope, exchange: _Exchange, route: str, seconds: float
    ) -> None:
        if exchange.client_gone is None:  # cut short: a stream that saw the client leave
            exchange.client_gone = exchange.gone_check(exchange.receive)
        client = scope.get("client")
        peer = client[0] if client else None
        if exchange.forwarded_for is not None:
            peer = self.client_ip.resolve(peer, exchange.forwarded_for)
        access_log.request(
            scope["method"],
            scope["path"],
            route,
            500 if exchange.status is None else exchange.status,
            seconds,
            peer,
            exchange.user_agent,
            exchange.context,
            exchange.client_gone,
        )

    async def _fail(self, exc: Exception, scope: Scope, exchange: _Exchange) -> None:
        """Capture the error once; answer a JSON 500 unless a response had started."""
        status = 500 if exchange.status is None else exchange.status
        if self.on_error is not None:
            context = {
                "status_code": status,
                "method": scope["method"],
                "path": scope["path"],
                "route": route_template(scope),
            }
            pending = None
            with contextlib.suppress(Exception):  # telemetry never breaks the request
                pending = self.on_error(exc, context)
            if pending is not None:
                # Only this request waits (for its alert to be durable: a crash right after
                # its 500 must not lose it); the loop serves the others meanwhile.
                with contextlib.suppress(Exception):
                    await pending
        if exchange.status is None:
            body = orjson.dumps({"error": "internal_error", "request_id": exchange.request_id})
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ]
            await exchange.send({"type": "http.response.start", "status": 500, "headers": headers})
            await exchange.send({"type": "http.response.body", "body": body})
