"""The access line, rendered without the generic structlog chain.

One line per request is the hottest log call there is. It carries the same fields, in the
same JSON schema, as every other line of the pipeline (timestamp, level, event, service,
env, logger, the request's context), but is built as one dict and rendered by orjson
directly, and the keys the middleware fills in itself skip the redaction walk.

When every field is one of those keys (nearly every request), the line is not even built as a
dict: orjson renders the fields alone and one bytes ``%`` puts them between the pre-rendered
head (timestamp, level, event) and tail (service, env, logger). Same bytes, half the cost.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import orjson

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


def _utc_timestamp_bytes() -> bytes:
    """`utc_timestamp` as bytes, for the pre-rendered access line."""
    ns = time.time_ns()
    sec = ns // 1_000_000_000
    cached = _stamp[0]
    if cached[0] != sec:
        cached = _stamp[0] = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode())
    return b"%b.%06dZ" % (cached[1], ns // 1000 % 1_000_000)


# Keys the middleware itself fills in: never secrets, so they skip the redaction walk.
_SAFE_KEYS: Final = frozenset(
    {"method", "path", "route", "status", "duration_ms", "client_ip", "user_agent",
     "request_id", "user_id"}
)  # fmt: skip


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
        # The fast path's templates, one per event: head, two %b holes, tail.
        tail = orjson.dumps(self._static, default=str, option=orjson.OPT_NON_STR_KEYS)
        tail = b"," + tail[1:].replace(b"%", b"%%") + b"\n"
        self._templates = {
            event: b'{"timestamp":"%%b","level":"%s","event":"%s",%%b%s'
            % (level_name.encode(), event.encode(), tail)
            for level_name, event in (
                ("info", "request completed"),
                ("warning", "connection closed prematurely"),
            )
        }
        self._fast = self._console is None and not self._static.keys() & _SAFE_KEYS

    def _emit(self, level: int, level_name: str, event: str, fields: dict[str, Any]) -> None:
        if self._console is not None:  # development: the human console line is wanted too
            getattr(self._console, level_name)(event, **fields)
            return
        if self._fast and fields and fields.keys() <= _SAFE_KEYS:
            body = self._dumps(fields, default=str)[1:-1]  # the fields, without the braces
            rendered = self._templates[event] % (_utc_timestamp_bytes(), body)
            self._writer.submit((level, rendered, None, None))
            return
        line = {"timestamp": utc_timestamp(), "level": level_name, "event": event, **fields}
        line.update(self._static)
        if not fields.keys() <= _SAFE_KEYS:  # something bound by a handler: check it
            self._redactor(None, "", line)
        self._writer.submit((level, self._dumps(line, default=str, option=self._opts), None, None))

    def completed(self, fields: dict[str, Any]) -> None:
        if self._info_enabled:
            self._emit(logging.INFO, "info", "request completed", fields)

    def premature(self, fields: dict[str, Any]) -> None:
        if self._warning_enabled:
            self._emit(logging.WARNING, "warning", "connection closed prematurely", fields)
