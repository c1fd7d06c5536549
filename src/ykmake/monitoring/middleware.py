"""ObservabilityMiddleware: one pure ASGI pass per request, outermost.

Request id in, one timing, one route lookup; on the way out one access line, one metrics
observation and the X-Request-ID header. Unhandled exceptions go to the error monitor once
and become a JSON 500 that carries the request id and no stack trace.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ykmake.monitoring.access_log import AccessLog, LineParts
from ykmake.monitoring.client_ip import ClientIPResolver
from ykmake.monitoring.http_metrics import STANDARD_METHODS, Handle, HttpMetricsRecorder
from ykmake.monitoring.request_context import end_request, start_request
from ykmake.monitoring.routes import is_fixed, route_template

__all__ = ["ObservabilityMiddleware"]

_VALID_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")
ErrorHook = Callable[[BaseException, dict[str, Any]], object]
_perf_counter = time.perf_counter  # bound once: the hot path calls it directly
_MAX_RECORDS: Final = 4096  # (route, method, status) is bounded by the app; guards odd apps
# Per (route, method, status): the route object, its template, the metrics handle and the
# access line's parts (None for what is switched off).
_Record = tuple[Any, str, Handle | None, LineParts | None]


# Request ids come from the OS's CSPRNG 256 at a time: one urandom call and one hex
# conversion, split in C, cost a request a list pop instead of a PRNG call and a
# conversion of its own. A forked worker starts with an empty pool, so it shares no id.
_POOL_SIZE: Final = 256
_pool: list[str] = []
os.register_at_fork(after_in_child=_pool.clear)


def new_request_id() -> str:
    """32 random hex digits."""
    try:
        return _pool.pop()
    except IndexError:
        _pool.extend(os.urandom(16 * _POOL_SIZE).hex(" ", 16).split())
        return _pool.pop()


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
        self._wanted = frozenset({self.header, b"user-agent", b"x-forwarded-for"})
        # (id(route), method, status) -> its record; the route is kept to check identity,
        # as ids are reused.
        self._records: dict[tuple[int, str, int], _Record] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = _perf_counter()
        raw_id = agent = forwarded = None
        wanted, id_header = self._wanted, self.header
        for name, value in scope["headers"]:  # the three headers read, in one pass
            if name in wanted:
                if name == id_header:
                    raw_id = value
                elif name == b"user-agent":
                    agent = value
                else:
                    forwarded = value
        if raw_id is None or _VALID_REQUEST_ID.fullmatch(raw_id) is None:
            request_id = new_request_id()
            raw_id = request_id.encode()
        else:
            request_id = raw_id.decode()
        ctx: dict[str, Any] = {"request_id": request_id}
        token = start_request(ctx)
        rid_header = (id_header, raw_id)
        status: int | None = None  # None until the response started
        disconnected: bool | None = None  # None until the last body went out
        skipped = scope["path"] in self.skip_paths  # /metrics: neither counted nor in flight
        inflight = self.inflight if not skipped else None
        if inflight is not None:
            inflight[id(scope)] = scope

        # A plain function handing back send's awaitable: the app awaits it just the same,
        # and no coroutine of its own is made for every message.
        def send_wrapper(message: Message) -> Awaitable[None]:
            nonlocal status, disconnected
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            elif kind == "http.response.body" and not message.get("more_body"):
                # Before the last body goes out: a client that leaves later left in time.
                disconnected = _probe_disconnect(receive)
            return send(message)

        transaction = self.tracer.start(scope["method"], scope["path"]) if self.tracer else None
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # noqa: BLE001 - captured once here, answered as a JSON 500
            if self.on_error is not None:
                self._capture(exc, scope, 500 if status is None else status)
            if status is None:
                await self._send_500(send_wrapper, request_id)
        finally:
            end_request(token)
            if inflight is not None:
                del inflight[id(scope)]
            code = 500 if status is None else status  # no response at all: counted as a 500
            record = None
            if not skipped:
                if disconnected is None:  # cut short (a stream that saw the client leave, an error)
                    disconnected = _probe_disconnect(receive)
                duration = _perf_counter() - start
                method, route = scope["method"], scope.get("route")
                try:
                    record = self._records.get((id(route), method, code))
                    if record is None or record[0] is not route:
                        record = self._record(scope, route, method, code)
                    if record[2] is not None:
                        self.metrics.record(record[2], duration, request_id)  # type: ignore[union-attr]
                    if record[3] is not None:
                        peer = scope.get("client")
                        peer = peer[0] if peer else None
                        if forwarded is not None:
                            peer = self.client_ip.resolve(peer, forwarded)
                        self.access_log.line(  # type: ignore[union-attr]
                            record[3], method, record[1], code, scope["path"], duration, peer,
                            agent, ctx, raw_id if ctx.get("request_id") is request_id else None,
                            disconnected,
                        )  # fmt: skip
                except Exception:  # noqa: BLE001, S110 - telemetry never breaks the request
                    pass
            if transaction is not None:  # after the exemplar read the still-current trace id
                template = record[1] if record is not None else route_template(scope)
                self.tracer.finish(transaction, template, code)

    def _record(self, scope: Scope, route: Any, method: str, status: int) -> _Record:
        """What a request of this route, method and status is recorded with, worked out on
        the first such request and kept while the route's template is fixed."""
        template = route_template(scope)
        record: _Record = (
            route,
            template,
            self.metrics.handle(method, template, status) if self.metrics is not None else None,
            self.access_log.parts(method, template, status) if self.access_log else None,
        )
        if (
            route is not None
            and method in STANDARD_METHODS  # never a client's key
            and is_fixed(route)
            and len(self._records) < _MAX_RECORDS
        ):
            self._records[(id(route), method, status)] = record
        return record

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
