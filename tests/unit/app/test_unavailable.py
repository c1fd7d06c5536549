"""A database that cannot serve a request is a 503 with a one-line reason and ``Retry-After``:
never a 500, and no error captured (so no alert) for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ykmake.app.db import DatabaseLimits, make_engine
from ykmake.app.request_db import RequestDatabase


def _get(app: Any, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await c.get(url)

    return asyncio.run(go())


@pytest.mark.parametrize("url", ["/api/products", "/api/products/1"])
def test_no_free_connection_is_a_503_with_its_reason(
    app_factory: Callable[..., Any], url: str
) -> None:
    app = app_factory(database_request_timeout_seconds=2.5)
    # The service's database behind a pool of one connection, which the test takes.
    tight = make_engine(
        app.state.engine.url, DatabaseLimits(pool_size=1, max_overflow=0, pool_timeout=0.2)
    )
    app.state.database = RequestDatabase(tight, threads=2, pool_timeout=0.2, timeout=2.5)
    try:
        with tight.connect():
            response = _get(app, url)
    finally:
        app.state.database.close()
        tight.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"  # the request timeout, in whole seconds
    assert response.json() == {
        "error": "database_unavailable",
        "detail": "no database connection was free within 0.2s",
        "request_id": response.headers["x-request-id"],
    }
    registry = app.state.monitoring.metrics.registry
    captured = [s for m in registry.collect() if m.name == "errors" for s in m.samples]
    assert captured == []  # nothing captured: no error line, no Sentry event, no alert
