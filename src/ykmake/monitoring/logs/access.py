"""A request's part of the logs: the context its lines carry, and its one access line.

One ``ContextVar`` holds one dict per request (the request id, and what handlers add with
:func:`bind_request_context`, such as ``user_id``). Because the dict is shared, what a
handler binds, even from a thread-pool handler, is seen by the access line too, and every
other line logged during the request picks it up through :func:`merge_request_context`.

The access line is the hottest log call there is, so :class:`AccessLog` builds its event
dict directly, with the fields the structlog chain would add (timestamp, level, the static
fields), and hands it to the chain's own renderer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final

from ykmake.monitoring.logs.render import utc_timestamp

if TYPE_CHECKING:  # the pipeline imports this module for merge_request_context
    from ykmake.monitoring.logs.pipeline import LoggingRuntime

__all__ = [
    "AccessLog",
    "bind_request_context",
    "end_request",
    "get_request_context",
    "get_request_id",
    "merge_request_context",
    "start_request",
]

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


# Context keys the toolkit fills in itself: never secrets, so they skip the redaction walk.
_TRUSTED_CONTEXT: Final = frozenset({"request_id", "user_id"})
_COMPLETED: Final = ("info", "request completed")
_PREMATURE: Final = ("warning", "connection closed prematurely")


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
        self._render = runtime.renderer.render
        self._submit = runtime.writer.submit
        self._static = {**runtime.static_fields, "logger": logger_name}
        self._completed = _COMPLETED if runtime.level <= logging.INFO else None
        self._premature = _PREMATURE if runtime.level <= logging.WARNING else None

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
        kind = self._premature if premature else self._completed
        if kind is None:
            return
        level, event = kind
        fields = {
            "timestamp": utc_timestamp(),
            "level": level,
            "event": event,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1e6) / 1000,
            "client_ip": client_ip,
            "user_agent": user_agent,
            **context,
            **self._static,
        }
        if len(context) > 1 and not context.keys() <= _TRUSTED_CONTEXT:  # a handler bound it
            self._redact(fields)
        self._submit(self._render(level, fields))
