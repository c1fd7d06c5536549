"""The 503 a request gets when the database cannot serve it (:class:`DatabaseUnavailableError`).

An answer, not an error: the middleware logs and counts a 503 (the access line carries the
reason as ``database_unavailable``) and captures nothing. A hanging database is one incident,
which the availability SLO and ``/ready`` report, not one error alert per request.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ykmake.app.request_db import DatabaseUnavailableError
from ykmake.monitoring.logs.lines import bind_request_context, get_request_id

__all__ = ["UNAVAILABLE", "Unavailable", "unavailable_handler"]


class Unavailable(BaseModel):
    """The body of a 503: ``database_unavailable`` and why."""

    error: str
    detail: str
    request_id: str | None


# The routes that use the database document their 503 with this.
UNAVAILABLE: Final[dict[int | str, dict[str, Any]]] = {
    503: {
        "model": Unavailable,
        "description": "The database did not answer in time, or failed; retry after a while",
    }
}


def unavailable_handler(
    retry_after_seconds: float,
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The exception handler answering :class:`DatabaseUnavailableError` with a JSON 503."""
    retry_after = str(max(1, math.ceil(retry_after_seconds)))

    async def handle(_request: Request, exc: Exception) -> Response:
        reason = exc.reason if isinstance(exc, DatabaseUnavailableError) else "database unavailable"
        bind_request_context(database_unavailable=reason)
        body = {"error": "database_unavailable", "detail": reason, "request_id": get_request_id()}
        return JSONResponse(body, status_code=503, headers={"Retry-After": retry_after})

    return handle
