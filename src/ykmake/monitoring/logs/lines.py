"""A log line, from the request context it carries to its bytes.

* The request context: one ``ContextVar`` holds one dict per request (the request id, and
  what handlers add with :func:`bind_request_context`, such as ``user_id``). The dict is
  shared, so what a handler binds, even from a thread-pool handler, is seen by the access
  line too; every other line logged during the request picks it up through
  :func:`merge_request_context`.
* The one renderer (:class:`LineRenderer`): an event dict becomes one JSON line, and a
  console line in development. It is the last processor of the structlog chain.
* The access line (:class:`AccessLog`), the hottest log call there is: it builds its event
  dict directly, with the fields the chain would add (timestamp, level, the static fields),
  and hands it to the same renderer, so every line has the same encoder, timestamp format
  and treatment of values JSON cannot hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

if TYPE_CHECKING:  # the pipeline imports this module for its processors
    from ykmake.monitoring.logs.pipeline import LoggingRuntime

__all__ = [
    "CHANNEL_KEY",
    "LEVELS",
    "TOOLKIT_FIELDS",
    "AccessLog",
    "Line",
    "LineRenderer",
    "add_timestamp",
    "bind_request_context",
    "end_request",
    "get_request_context",
    "get_request_id",
    "merge_request_context",
    "start_request",
    "utc_timestamp",
]

# -- the request context -----------------------------------------------------------------

RequestContext = dict[str, Any]
_request: ContextVar[RequestContext | None] = ContextVar("ykmake_request", default=None)

# The middleware's pair, the context variable's own methods (no wrapper call per request).
start_request: Callable[[RequestContext], Token[RequestContext | None]] = _request.set
end_request: Callable[[Token[RequestContext | None]], None] = _request.reset


def bind_request_context(**values: Any) -> None:
    """Add values to the current request's context (no-op outside a request)."""
    context = _request.get()
    if context is not None:
        context.update(values)


def get_request_context() -> RequestContext:
    """A copy of the current request's context ({} outside a request)."""
    context = _request.get()
    return dict(context) if context else {}


def get_request_id() -> str | None:
    """The current request's id, or None outside a request."""
    context = _request.get()
    return context.get("request_id") if context else None


def merge_request_context(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the request's context, under the keys the call gave itself."""
    context = _request.get()
    if context:
        for key, value in context.items():
            event_dict.setdefault(key, value)
    return event_dict


# -- the renderer -----------------------------------------------------------------------

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# A line sent on a channel (exceptions, rejections) also goes to that channel's own file.
CHANNEL_KEY: Final = "_channel"
# Not OPT_NON_STR_KEYS: it makes orjson check every key of every line; the rare line with a
# non-str key takes the slow path below instead.
_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z
_SLOW_OPTIONS: Final = _OPTIONS | orjson.OPT_NON_STR_KEYS
_THREE_DIGITS: Final = tuple(f"{n:03d}" for n in range(1000))
_second: tuple[int, str] = (-1, "")  # the last unix second, and its text up to the dot


def utc_timestamp() -> str:
    """ISO-8601 UTC with microseconds (``2026-11-27T07:23:36.670318Z``).

    The second is formatted once a second; the microseconds come from a table three digits
    at a time instead of formatting a number for every line."""
    global _second  # one formatted second, shared by every logger
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        cached = _second = (second, text)
    return f"{cached[1]}{_THREE_DIGITS[micros // 1000]}{_THREE_DIGITS[micros % 1000]}Z"


def add_timestamp(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the ``timestamp`` key, formatted once a second."""
    event_dict["timestamp"] = utc_timestamp()
    return event_dict


class Line(NamedTuple):
    """A rendered line on its way to the writer."""

    level: int
    json: bytes
    console: str | None  # the human line, in development
    channel: str | None


_new_line = tuple.__new__


def _fallback(value: Any) -> Any:
    """What orjson cannot encode natively: its string form."""
    return str(value)


def _safe_text(value: Any) -> str:
    """A string orjson always encodes: lone surrogates become ``\\udcxx`` escapes."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(value: Any) -> Any:
    """``value`` if orjson encodes it, else its string form (the rare slow path)."""
    try:
        orjson.dumps(value, default=_fallback, option=_SLOW_OPTIONS)
    except orjson.JSONEncodeError:
        return _safe_text(value)
    return value


class LineRenderer:
    """Final processor: renders the event dict, never raises into the caller.

    Args:
        console: also render the colourised human line (development).
    """

    def __init__(self, console: bool) -> None:
        self._console = structlog.dev.ConsoleRenderer(colors=True) if console else None

    def __call__(
        self, logger: WrappedLogger, name: str, event_dict: EventDict
    ) -> tuple[tuple[Line], dict[str, Any]]:
        """As a structlog processor: the positional argument the wrapped logger receives."""
        return (self.render(name, event_dict, logger),), {}

    def render(self, level: str, event_dict: EventDict, logger: WrappedLogger = None) -> Line:
        """The line of ``event_dict`` logged at ``level`` (a level name)."""
        channel = event_dict.pop(CHANNEL_KEY, None)
        try:
            line = orjson.dumps(event_dict, default=_fallback, option=_OPTIONS)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate, a non-str key
            safe = {_safe_text(k): _encodable(v) for k, v in event_dict.items()}
            line = orjson.dumps(safe, default=_fallback, option=_SLOW_OPTIONS)
        text = None
        if self._console is not None:
            text = str(self._console(logger, level, dict(event_dict)))
        # tuple.__new__, as NamedTuple's own _make does: no Python-level __new__ per line.
        return _new_line(Line, (LEVELS.get(level, logging.INFO), line, text, channel))


# Fields of error lines the toolkit fills in itself, from what it knows (a class name, a digest,
# a status, a route template): no secret can be in them, so the redaction walk skips them.
TOOLKIT_FIELDS: Final = (
    "error_type",
    "fingerprint",
    "repeat",
    "sentry_event_id",
    "status_code",
    "route",
)

# -- the access line ----------------------------------------------------------------------

# Context keys the toolkit fills in itself: never secrets, so they skip the redaction walk
# (the middleware refuses a client's request id that looks like a secret).
_TRUSTED_CONTEXT: Final = frozenset({"request_id", "user_id", "error_type", "fingerprint"})
_ACCESS_FIELDS: Final = (
    "timestamp",
    "level",
    "event",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "client_ip",
    "user_agent",
    "request_id",
)
_COMPLETED: Final = ("info", "request completed")
_PREMATURE: Final = ("warning", "connection closed prematurely")


def _template(kind: tuple[str, str], static: dict[str, Any]) -> dict[str, Any]:
    level, event = kind
    fields: dict[str, Any] = dict.fromkeys(_ACCESS_FIELDS)
    return fields | {"level": level, "event": event, **static}


class AccessLog:
    """Writes "request completed" / "connection closed prematurely" lines.

    Args:
        runtime: the logging pipeline whose renderer, redactor and writer it uses.
        logger_name: the ``logger`` field of its lines.
    """

    def __init__(
        self, runtime: LoggingRuntime, logger_name: str = "ykmake.monitoring.access"
    ) -> None:
        self._redact = runtime.redactor.redact
        # The user agent is the client's to choose, so it is scanned for secrets. Clients
        # reuse theirs: each is scanned once and remembered (a bounded cache), and a request
        # with a known one pays a dict lookup, not a call.
        self._agents = runtime.redactor.remembered
        self._scrub_agent = runtime.redactor.scrub_repeated
        self._render = runtime.renderer.render
        self._submit = runtime.writer.submit
        static = {**runtime.static_fields, "logger": logger_name}
        # Each kind of line as a template in schema order, copied per request (one C call)
        # and filled in; None when its level is off.
        self._completed = _template(_COMPLETED, static) if runtime.level <= logging.INFO else None
        self._premature = (
            _template(_PREMATURE, static) if runtime.level <= logging.WARNING else None
        )

    @property
    def enabled(self) -> bool:
        """Whether a completed request writes a line at the configured level."""
        return self._completed is not None

    def request(
        self,
        method: str,
        path: str,
        route: str,
        status: int,
        seconds: float,
        client_ip: str | None,
        user_agent: str | None,
        context: RequestContext,
        premature: bool = False,
    ) -> None:
        """The access line of one finished request; ``context`` is its request context."""
        template = self._premature if premature else self._completed
        if template is None:
            return
        fields = template.copy()
        fields["timestamp"] = utc_timestamp()
        fields["method"] = method
        fields["path"] = path
        fields["route"] = route
        fields["status"] = status
        fields["duration_ms"] = round(seconds * 1e6) / 1000
        fields["client_ip"] = client_ip
        fields["user_agent"] = user_agent and (
            self._agents.get(user_agent) or self._scrub_agent(user_agent)
        )
        fields.update(context)
        if len(context) > 1 and not context.keys() <= _TRUSTED_CONTEXT:  # a handler bound it
            self._redact(fields)
        self._submit(self._render(fields["level"], fields))
