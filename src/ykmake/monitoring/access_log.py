"""The access line, rendered without the generic structlog chain.

One line per request is the hottest log call there is. It carries the same fields, in the
same JSON schema, as every other line of the pipeline (timestamp, level, event, service,
env, logger, the request's context), rendered by orjson directly, and the keys the
middleware fills in itself skip the redaction walk.

:meth:`AccessLog.request` (and :meth:`AccessLog.line`, for the middleware, which keeps the
parts per route) joins pre-rendered pieces: what (method, route, status) fixes is rendered
once, and a request adds only what varies (time, path, duration, client, user agent,
request id). :meth:`AccessLog.completed` / :meth:`AccessLog.premature` take the fields as a
dict and write the same bytes.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import orjson

from ykmake.monitoring.http_metrics import STANDARD_METHODS
from ykmake.monitoring.logging_setup import LoggingRuntime

__all__ = ["AccessLog", "LineParts", "utc_timestamp"]

_second: list[Any] = [-1, ""]


def utc_timestamp() -> str:
    """ISO-8601 UTC with microseconds, as structlog's ``TimeStamper(fmt="iso", utc=True)``."""
    now = time.time()
    sec = int(now)
    if sec != _second[0]:
        _second[0], _second[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second[1]}.{int((now - sec) * 1_000_000):06d}Z"


# Number -> bytes tables: a lookup costs a fraction of formatting the number each time.
_DIGITS3: Final = tuple(b"%03d" % i for i in range(1000))  # microseconds, three digits at a time
_MS_WHOLE: Final = tuple(b"%d" % i for i in range(1000))
# ".5" for 500 µs: the float's shortest repr, as orjson writes milliseconds = micros / 1000.
_MS_FRACTION: Final = tuple((b".%03d" % i).rstrip(b"0") if i else b".0" for i in range(1000))


# Keys the middleware itself fills in: never secrets, so they skip the redaction walk.
_SAFE_KEYS: Final = frozenset(
    {"method", "path", "route", "status", "duration_ms", "client_ip", "user_agent",
     "request_id", "user_id"}
)  # fmt: skip
_MAX_ROUTE_PARTS: Final = 4096  # (method, route, status) is bounded by the app; guards odd apps
_MAX_CACHED_VALUES: Final = 1024  # client addresses / user agents: clients choose them
_MAX_CACHED_AGENT: Final = 512  # bytes of JSON; longer user agents are rendered each time
_EVENTS: Final = (("info", "request completed"), ("warning", "connection closed prematurely"))
_LEVELS: Final = (logging.INFO, logging.WARNING)  # by `premature`, as _EVENTS
# Per (method, route, status): (what follows the timestamp up to the path, what follows the
# path up to the duration), for a completed request and for a premature close.
LineParts = tuple[tuple[bytes, bytes], tuple[bytes, bytes]]


class AccessLog:
    """Writes "request completed" / "connection closed prematurely" lines."""

    def __init__(self, runtime: LoggingRuntime, logger_name: str = "ykmake.access") -> None:
        self._runtime = runtime
        self._writer = runtime.writer
        self._redactor = runtime.redactor
        self._static = {
            "service": runtime.config.service,
            "env": runtime.config.env,
            "logger": logger_name,
            **runtime.config.extra_static,
        }
        self._info_enabled = runtime.level <= logging.INFO
        self._warning_enabled = runtime.level <= logging.WARNING
        self._enabled = (self._info_enabled, self._warning_enabled)  # by `premature`
        self._console = runtime.get_logger(logger_name) if runtime.config.console else None
        self._opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        self._dumps = orjson.dumps
        # What closes every line `request` puts together: the static fields.
        tail = orjson.dumps(self._static, default=str, option=orjson.OPT_NON_STR_KEYS)
        self._tail = b"," + tail[1:] + b"\n"
        self._fast = self._console is None and not self._static.keys() & _SAFE_KEYS
        # (method, route, status) -> the line's parts fixed by them, for `line`.
        self._route_parts: dict[tuple[str, str, int], LineParts] = {}
        # JSON of client addresses and user agents seen: a few values serve most requests.
        self._clients: dict[str | None, bytes] = {}
        self._agents: dict[bytes | None, bytes] = {}
        self._stamp: tuple[int, bytes] = (-1, b"")

    def _emit(self, level: int, level_name: str, event: str, fields: dict[str, Any]) -> None:
        if self._console is not None:  # development: the human console line is wanted too
            getattr(self._console, level_name)(event, **fields)
            return
        line = {"timestamp": utc_timestamp(), "level": level_name, "event": event, **fields}
        line.update(self._static)
        if not fields.keys() <= _SAFE_KEYS:  # something bound by a handler: check it
            self._redactor(None, "", line)
        self._writer.submit((level, self._dumps(line, default=str, option=self._opts), None, None))

    def parts(self, method: str, route: str, status: int) -> LineParts:
        """The parts of a line fixed by (method, route, status), rendered once: for a
        completed request and for a premature close, what follows the timestamp up to the
        path and what follows the path up to the duration."""
        key = (method, route, status)
        found = self._route_parts.get(key)
        if found is None:
            dumps = orjson.dumps
            head = b'","method":%s,"path":' % dumps(method)
            mid = b',"route":%s,"status":%s,"duration_ms":' % (dumps(route), dumps(status))
            completed, premature = (
                (b'Z","level":"%s","event":"%s' % (level.encode(), event.encode()) + head, mid)
                for level, event in _EVENTS
            )
            found = (completed, premature)
            if method in STANDARD_METHODS and len(self._route_parts) < _MAX_ROUTE_PARTS:
                self._route_parts[key] = found  # never under a client's key
        return found

    def _second(self, second: int) -> bytes:
        """'{"timestamp":"YYYY-mm-ddTHH:MM:SS.' for a unix second, rendered once a second."""
        prefix = (
            b'{"timestamp":"%s.' % time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        )
        self._stamp = (second, prefix)  # one object: threads never see a mixed pair
        return prefix

    def request(
        self,
        method: str,
        route: str,
        status: int,
        path: str,
        seconds: float,
        client_ip: str | None,
        user_agent: bytes | None,
        ctx: dict[str, Any],
        premature: bool = False,
    ) -> None:
        """The access line of one finished request; ``ctx`` is its context (request id first).

        The same line as :meth:`completed` / :meth:`premature` with these fields."""
        self.line(
            self.parts(method, route, status), method, route, status, path, seconds,
            client_ip, user_agent, ctx, None, premature,
        )  # fmt: skip

    def line(
        self,
        parts: LineParts,
        method: str,
        route: str,
        status: int,
        path: str,
        seconds: float,
        client_ip: str | None,
        user_agent: bytes | None,
        ctx: dict[str, Any],
        raw_id: bytes | None,
        premature: bool,
    ) -> None:
        """:meth:`request` for a caller that keeps ``parts`` (from :meth:`parts`) per route.

        ``raw_id``, when given, is ``ctx["request_id"]`` in bytes that JSON writes as they
        are (the middleware's validated or generated id). The line is put together from
        pieces: numbers from tables, client address and user agent from small caches; only
        the path goes through orjson on every request.
        """
        if not self._enabled[premature]:
            return
        if not self._fast or (len(ctx) > 1 and not ctx.keys() <= _SAFE_KEYS):
            ua = user_agent.decode("latin-1") if user_agent is not None else None
            fields = {"method": method, "path": path, "route": route, "status": status,
                      "duration_ms": round(seconds * 1e6) / 1000, "client_ip": client_ip,
                      "user_agent": ua, **ctx}  # fmt: skip
            (self.premature if premature else self.completed)(fields)
            return
        head, mid = parts[premature]
        dumps = self._dumps
        client_json = self._clients.get(client_ip)
        if client_json is None:
            client_json = dumps(client_ip)
            if len(self._clients) < _MAX_CACHED_VALUES:
                self._clients[client_ip] = client_json
        agent_json = self._agents.get(user_agent)
        if agent_json is None:
            agent_json = dumps(user_agent.decode("latin-1") if user_agent is not None else None)
            if len(self._agents) < _MAX_CACHED_VALUES and len(agent_json) <= _MAX_CACHED_AGENT:
                self._agents[user_agent] = agent_json
        micros = round(seconds * 1e6)
        if 0 <= micros < 1_000_000:
            ms_whole, ms_fraction = _MS_WHOLE[micros // 1000], _MS_FRACTION[micros % 1000]
        else:
            ms_whole, ms_fraction = dumps(micros / 1000), b""
        second, now = divmod(time.time_ns() // 1000, 1_000_000)  # unix second, microseconds
        stamp = self._stamp
        prefix = stamp[1] if stamp[0] == second else self._second(second)
        request_id = b'"' + raw_id + b'"' if raw_id is not None else dumps(ctx["request_id"])
        extra = b""
        if len(ctx) > 1:  # what a handler bound (user_id), after the request id
            rest = {k: v for k, v in ctx.items() if k != "request_id"}
            extra = b"," + dumps(rest, default=str)[1:-1]
        line = b"".join((
            prefix, _DIGITS3[now // 1000], _DIGITS3[now % 1000], head, dumps(path), mid,
            ms_whole, ms_fraction, b',"client_ip":', client_json, b',"user_agent":', agent_json,
            b',"request_id":', request_id, extra, self._tail,
        ))  # fmt: skip
        self._writer.submit((_LEVELS[premature], line, None, None))

    def completed(self, fields: dict[str, Any]) -> None:
        if self._info_enabled:
            self._emit(logging.INFO, *_EVENTS[0], fields)

    def premature(self, fields: dict[str, Any]) -> None:
        if self._warning_enabled:
            self._emit(logging.WARNING, *_EVENTS[1], fields)
