"""The access line, rendered without the generic structlog chain.

One line per request is the hottest log call there is. It carries the same fields, in the
same JSON schema, as every other line of the pipeline (timestamp, level, event, service,
env, logger, the request's context), rendered by orjson directly, and the keys the
middleware fills in itself skip the redaction walk.

The middleware calls :meth:`AccessLog.request`: per (method, route, status) the whole line
is one pre-rendered template, and a request fills in only what varies (time, path, duration,
client, user agent, request id). :meth:`AccessLog.completed` / :meth:`AccessLog.premature`
take the fields as a dict and write the same bytes.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import orjson

from ykmake.monitoring.http_metrics import STANDARD_METHODS
from ykmake.monitoring.logging_setup import LoggingRuntime

__all__ = ["AccessLog", "utc_timestamp"]

_second: list[Any] = [-1, ""]


def utc_timestamp() -> str:
    """ISO-8601 UTC with microseconds, as structlog's ``TimeStamper(fmt="iso", utc=True)``."""
    now = time.time()
    sec = int(now)
    if sec != _second[0]:
        _second[0], _second[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_second[1]}.{int((now - sec) * 1_000_000):06d}Z"


# (second, its "YYYY-mm-ddTHH:MM:SS" bytes), replaced as one object so threads never mix them.
_stamp: list[tuple[int, bytes]] = [(-1, b"")]


def _second_bytes(sec: int) -> bytes:
    """ "YYYY-mm-ddTHH:MM:SS" of a unix second, computed once per second."""
    cached = _stamp[0]
    if cached[0] != sec:
        cached = _stamp[0] = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode())
    return cached[1]


# Keys the middleware itself fills in: never secrets, so they skip the redaction walk.
_SAFE_KEYS: Final = frozenset(
    {"method", "path", "route", "status", "duration_ms", "client_ip", "user_agent",
     "request_id", "user_id"}
)  # fmt: skip
_MAX_TEMPLATES: Final = 4096  # (method, route, status) is bounded by the app; this guards odd apps
_EVENTS: Final = (("info", "request completed"), ("warning", "connection closed prematurely"))


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
        self._console = runtime.get_logger(logger_name) if runtime.config.console else None
        self._opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        self._dumps = orjson.dumps
        # What closes every templated line: the static fields, ready for a bytes ``%``.
        tail = orjson.dumps(self._static, default=str, option=orjson.OPT_NON_STR_KEYS)
        self._tail = b"," + tail[1:].replace(b"%", b"%%") + b"\n"
        self._fast = self._console is None and not self._static.keys() & _SAFE_KEYS
        # (method, route, status, premature) -> the whole line with holes, for `request`.
        self._lines: dict[tuple[str, str, int, bool], bytes] = {}

    def _emit(self, level: int, level_name: str, event: str, fields: dict[str, Any]) -> None:
        if self._console is not None:  # development: the human console line is wanted too
            getattr(self._console, level_name)(event, **fields)
            return
        line = {"timestamp": utc_timestamp(), "level": level_name, "event": event, **fields}
        line.update(self._static)
        if not fields.keys() <= _SAFE_KEYS:  # something bound by a handler: check it
            self._redactor(None, "", line)
        self._writer.submit((level, self._dumps(line, default=str, option=self._opts), None, None))

    def _line_template(self, method: str, route: str, status: int, premature: bool) -> bytes:
        level_name, event = _EVENTS[premature]
        fixed = [orjson.dumps(v).replace(b"%", b"%%") for v in (method, route, status)]
        template = (
            b'{"timestamp":"%%b.%%06dZ","level":"%s","event":"%s","method":%s,"path":%%b,'
            b'"route":%s,"status":%s,"duration_ms":%%b,"client_ip":%%b,"user_agent":%%b,'
            b'"request_id":%%b%%b%s' % (level_name.encode(), event.encode(), *fixed, self._tail)
        )
        if method in STANDARD_METHODS and len(self._lines) < _MAX_TEMPLATES:
            self._lines[(method, route, status, premature)] = template  # never a client's key
        return template

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

        The same line as :meth:`completed` / :meth:`premature` with these fields, rendered
        from a template per (method, route, status): a request costs one small orjson call
        per varying field and one bytes ``%``.
        """
        if not (self._warning_enabled if premature else self._info_enabled):
            return
        ua = user_agent.decode("latin-1") if user_agent is not None else None
        if not self._fast or (len(ctx) > 1 and not ctx.keys() <= _SAFE_KEYS):
            fields = {"method": method, "path": path, "route": route, "status": status,
                      "duration_ms": round(seconds * 1e6) / 1000,  # round(ms, 3), 4x cheaper
                      "client_ip": client_ip, "user_agent": ua, **ctx}  # fmt: skip
            level, level_name, event = (
                (logging.WARNING, *_EVENTS[1]) if premature else (logging.INFO, *_EVENTS[0])
            )
            self._emit(level, level_name, event, fields)
            return
        template = self._lines.get((method, route, status, premature))
        if template is None:
            template = self._line_template(method, route, status, premature)
        dumps = self._dumps
        extra = b""
        if len(ctx) > 1:  # what a handler bound (user_id), after the request id
            rest = {k: v for k, v in ctx.items() if k != "request_id"}
            extra = b"," + dumps(rest, default=str)[1:-1]
        ns = time.time_ns()
        line = template % (
            _second_bytes(ns // 1_000_000_000),
            ns // 1000 % 1_000_000,
            dumps(path),
            dumps(round(seconds * 1e6) / 1000),
            dumps(client_ip),
            dumps(ua),
            dumps(ctx.get("request_id"), default=str),
            extra,
        )
        self._writer.submit((logging.WARNING if premature else logging.INFO, line, None, None))

    def completed(self, fields: dict[str, Any]) -> None:
        if self._info_enabled:
            self._emit(logging.INFO, "info", "request completed", fields)

    def premature(self, fields: dict[str, Any]) -> None:
        if self._warning_enabled:
            self._emit(logging.WARNING, "warning", "connection closed prematurely", fields)
