"""A FastAPI validation error as a 422 that always renders.

FastAPI's own handler echoes every error's ``input`` through ``json.dumps``: a request body
holding a lone surrogate escape (``"\\udcff"``), a ``NaN`` or a deeply nested value makes the
handler itself raise, and a client's malformed request becomes a 500 — a traceback, a Sentry
event and an alert that a stranger can trigger. This handler answers the same shape
(``{"detail": [{"type", "loc", "msg", "input"?, "ctx"?}]}``, FastAPI's documented
``HTTPValidationError``) from values that JSON can always hold: text that is not valid
Unicode is shown escaped, non-finite numbers as text, and an ``input`` that is not a short
scalar is left out (it would only echo the client's body back, secrets included).

FastAPI is not imported here: the handler only reads ``exc.errors()``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["json_safe", "validation_error_response"]

_MAX_TEXT: Final = 200  # characters of any text echoed: an input, a key in ``loc``, a message
_MAX_DEPTH: Final = 4  # nesting kept in ``ctx``; deeper values become text


def _text(value: str, limit: int) -> str:
    """``value`` as text UTF-8 can encode: lone surrogates become ``\\udcff`` escapes."""
    if len(value) > limit:
        value = value[:limit] + "…"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that ``json.dumps(..., allow_nan=False)`` encodes to UTF-8."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(value, _MAX_TEXT)
    if depth < _MAX_DEPTH and isinstance(value, Mapping):
        return {_text(str(k), _MAX_TEXT): json_safe(v, depth + 1) for k, v in value.items()}
    if depth < _MAX_DEPTH and isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return _text(str(value), _MAX_TEXT)


def _is_short_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT
    return value is None or isinstance(value, bool | int | float)


def _loc(parts: Sequence[Any]) -> list[str | int]:
    return [
        p if isinstance(p, int) and not isinstance(p, bool) else _text(str(p), _MAX_TEXT)
        for p in parts
    ]


def _error(error: Mapping[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": _text(str(error.get("type", "value_error")), _MAX_TEXT),
        "loc": _loc(error.get("loc", ())),
        "msg": _text(str(error.get("msg", "invalid value")), _MAX_TEXT),
    }
    if "input" in error and _is_short_scalar(error["input"]):
        item["input"] = json_safe(error["input"])
    ctx = error.get("ctx")
    if isinstance(ctx, Mapping) and ctx:
        item["ctx"] = json_safe(ctx)
    return item


async def validation_error_response(_request: Request, exc: Exception) -> Response:
    """The 422 for a ``RequestValidationError``: each error's field (``loc``) and problem."""
    errors_of = getattr(exc, "errors", None)
    errors: Sequence[Mapping[str, Any]] = errors_of() if callable(errors_of) else []
    body = {"detail": [_error(e) for e in errors]}
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(content.encode("utf-8"), status_code=422, media_type="application/json")
