"""Per-request context (request id, user id, route) that every log line and alert picks up.

One ``ContextVar`` holds one dict per request. Handlers add to it with
:func:`bind_request_context`; because the dict is shared, what a handler binds (``user_id``)
is seen by the middleware's access line too, even from a thread-pool handler.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from contextvars import ContextVar, Token
from typing import Any

__all__ = [
    "bind_request_context",
    "get_request_context",
    "get_request_id",
    "merge_request_context",
]

_request_ctx: ContextVar[dict[str, Any] | None] = ContextVar("ykmake_request", default=None)


# The middleware's per-request pair, bound methods rather than wrappers: no extra call.
start_request: Callable[[dict[str, Any]], Token[dict[str, Any] | None]] = _request_ctx.set
end_request: Callable[[Token[dict[str, Any] | None]], None] = _request_ctx.reset


def bind_request_context(**values: Any) -> None:
    """Add values to the current request's context (no-op outside a request)."""
    ctx = _request_ctx.get()
    if ctx is not None:
        ctx.update(values)


def get_request_context() -> dict[str, Any]:
    """A copy of the current request's context ({} outside a request)."""
    ctx = _request_ctx.get()
    return dict(ctx) if ctx else {}


def get_request_id() -> str | None:
    ctx = _request_ctx.get()
    return ctx.get("request_id") if ctx else None


def merge_request_context(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: explicit keys win over the request's context."""
    ctx = _request_ctx.get()
    if ctx:
        for key, value in ctx.items():
            event_dict.setdefault(key, value)
    return event_dict
