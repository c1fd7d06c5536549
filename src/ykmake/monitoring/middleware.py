"""ObservabilityMiddleware: one pure ASGI pass per request, outermost.

Request id in, one timing, one route lookup; on the way out one access line, one metrics
observation and the X-Request-ID header. Unhandled exceptions go to the error monitor once
and become a JSON 500 that carries the request id and no stack trace.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ykmake.monitoring.access_log import AccessLog
from ykmake.monitoring.client_ip import ClientIPResolver
from ykmake.monitoring.http_metrics import HttpMetricsRecorder
from ykmake.monitoring.request_context import end_request, start_request
from ykmake.monitoring.routes import route_template

__all__ = ["ObservabilityMiddleware"]

_VALID_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")
ErrorHook = Callable[[BaseException, dict[str, Any]], object]
_perf_counter = time.perf_counter  # bound once: the hot path calls it directly


# Request ids correlate lines, they guard nothing: a PRNG seeded from the OS (and reseeded in
# forked workers) gives 128 random bits for a fifth of os.urandom's syscall.
_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def new_request_id() -> str:
    """32 random hex digits."""
    return _ids.getrandbits(128).to_bytes(16, "big").hex()


# Servers whose receive() answers from a `disconnected` flag on the object it is bound to.
_UVICORN_CYCLES: Final = frozenset(
    {"uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl"}
)
_FLAGGED: set[type] = set()


def _probe_disconnect(receive: Receive) -> bool:
    """True when the server already knows the client is gone, without waiting.

    Servers answer ``receive()`` at once with ``http.disconnect`` for a closed connection
    and suspend otherwise; one step of the coroutine tells the two apart, and a suspended
    one is closed again. This is how a plain (non-streaming) response notices a client
    that left, as the seed's ``res.on("close")`` does.

    Under uvicorn, ``receive`` is a method of the connection's request cycle, whose
    ``disconnected`` flag is what that step would answer from: it is read directly, a
    tenth of the cost.
    """
    cycle = getattr(receive, "__self__", None)
    kind = type(cycle)
    if kind in _FLAGGED:
        return cycle.disconnected is True  # type: ignore[union-attr]
    if kind.__module__ in _UVICORN_CYCLES and isinstance(getattr(cycle, "disconnected", 0), bool):
        _FLAGGED.add(kind)
        return cycle.disconnected is True  # type: ignore[union-attr]
    awaitable = receive()
    try:
        step = awaitable.send  # type: ignore[attr-defined]  # a coroutine, or assume connected
    except AttributeError:
        return False
    try:
        step(None)
    except StopIteration as done:
        message = done.value
        return isinstance(message, dict) and message.get("type") == "http.disconnect"
    except Exception:  # noqa: BLE001 - a server that can't be probed: assume connected
        return False
    awaitable.close()  # type: ignore[attr-defined]
    return False


class ObservabilityMiddleware:
    """Request id, access log, RED metrics and error capture in one pass."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog | None = None,
        metrics: HttpMetricsRecorder | None = None,
        on_error: ErrorHook | None = None,
        client_ip: ClientIPResolver | None = None,
        request_id_header: str = "X-Request-ID",
        skip_paths: Iterable[str] = ("/metrics",),
        tracer: Any = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self.on_error = on_error
        self.client_ip = client_ip or ClientIPResolver()
        self.header = request_id_header.lower().encode("latin-1")
        self.skip_paths = frozenset(skip_paths)
        self.tracer = tracer  # SentryTracer: a transaction for sampled requests only
        # Requests in flight, read at scrape time for http_requests_in_progress.
        self.inflight = metrics.inflight if metrics is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = _perf_counter()
        headers = dict(scope["headers"])  # one C call, whatever the number of headers
        raw_id = headers.get(self.header)
        if raw_id is None or _VALID_REQUEST_ID.fullmatch(raw_id) is None:
            request_id = new_request_id()
            raw_id = request_id.encode()
        else:
            request_id = raw_id.decode()
        ctx: dict[str, Any] = {"request_id": request_id}
        token = start_request(ctx)
        rid_header = (self.header, raw_id)
        status = 500
        started = completed = disconnected = False
        skipped = scope["path"] in self.skip_paths  # /metrics: neither counted nor in flight
        inflight = self.inflight if not skipped else None
        if inflight is not None:
            inflight[id(scope)] = scope

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started, completed, disconnected
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", ()), rid_header]
            elif kind == "http.response.body" and not message.get("more_body"):
                # Before the last body goes out: a client that leaves later left in time.
                disconnected = _probe_disconnect(receive)
                completed = True
            await send(message)

        transaction = self.tracer.start(scope["method"], scope["path"]) if self.tracer else None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - captured once here, answered as a JSON 500
            if not started:
                status = 500
            if self.on_error is not None:
                self._capture(exc, scope, status)
            if not started:
                await self._send_500(send_wrapper, request_id)
        finally:
            end_request(token)
            if inflight is not None:
                del inflight[id(scope)]
            if not skipped:
                if not completed:  # cut short (a stream that saw the client leave, an error)
                    disconnected = _probe_disconnect(receive)
                self._finish(scope, ctx, start, status, headers, disconnected)
            if transaction is not None:  # after the exemplar read the still-current trace id
                self.tracer.finish(transaction, route_template(scope), status)

    def _finish(
        self,
        scope: Scope,
        ctx: dict[str, Any],
        start: float,
        status: int,
        headers: dict[bytes, bytes],
        disconnected: bool,
    ) -> None:
        duration = _perf_counter() - start
        route = route_template(scope)
        method = scope["method"]
        try:
            if self.metrics is not None:
                self.metrics.observe(method, route, status, duration, ctx["request_id"])
            if self.access_log is not None:
                client = scope.get("client")
                peer = client[0] if client else None
                forwarded = headers.get(b"x-forwarded-for")
                if forwarded is not None:
                    peer = self.client_ip.resolve(peer, forwarded)
                self.access_log.request(
                    method, route, status, scope["path"], duration, peer,
                    headers.get(b"user-agent"), ctx, disconnected,
                )  # fmt: skip
        except Exception:  # noqa: BLE001, S110 - telemetry never breaks the request
            pass

    def _capture(self, exc: BaseException, scope: Scope, status: int) -> None:
        try:
            assert self.on_error is not None
            self.on_error(
                exc,
                {
                    "status_code": status,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route_template(scope),
                },
            )
        except Exception:  # noqa: BLE001, S110 - telemetry never breaks the request
            pass

    @staticmethod
    async def _send_500(send: Callable[[Message], Awaitable[None]], request_id: str) -> None:
        body = orjson.dumps({"error": "internal_error", "request_id": request_id})
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body})
