"""Every metric of the service moves over HTTP as traffic, logins, queries and errors happen."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.integration.metrics.scrape import samples, scrape, value
from tests.support.server import serve, wait_until
from ykmake.app.users import create_user

pytestmark = pytest.mark.integration
TOKEN = "metrics-token"


def make_users(app: Any, n: int) -> list[str]:
    with Session(app.state.engine) as session:
        return [create_user(session, f"maker{i}")[1] for i in range(n)]


def requests_total(body: str, method: str, path: str, status: int) -> float:
    labels = {"method": method, "path": path, "status_code": str(status)}
    return value(body, "http_requests_total", **labels) or 0.0


def test_metrics_follow_traffic_logins_queries_and_errors(
    app_factory: Callable[..., Any], database_url: str
) -> None:
    app = app_factory(database_url=database_url, metrics_token=TOKEN)
    tokens = make_users(app, 3)
    with serve(app) as base, httpx.Client(base_url=base) as c:
        before = scrape(base, token=TOKEN)
        assert value(before, "active_users") == 0
        for _ in range(3):
            assert c.get("/health").status_code == 200
        for product_id in (1, 2):
            assert c.get(f"/api/products/{product_id}").status_code == 404
        for name in ("Lamp", "Desk"):
            auth = {"Authorization": f"Bearer {tokens[0]}"}
            body = {"name": name, "price_cents": 100}
            assert c.post("/api/products", json=body, headers=auth).status_code == 201
        for token in [*tokens, tokens[0]]:
            assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).is_success
        assert c.get("/api/debug/error").status_code == 500
        assert c.get("/no/such/page").status_code == 404
        with app.state.engine.connect() as conn, pytest.raises(DBAPIError):
            conn.execute(text("SELECT * FROM no_such_table"))
        after = scrape(base, token=TOKEN)

    assert requests_total(after, "GET", "/health", 200) == 3
    assert requests_total(after, "GET", "/api/products/{product_id}", 404) == 2
    assert requests_total(after, "POST", "/api/products", 201) == 2
    assert requests_total(after, "GET", "/api/me", 200) == 4
    assert requests_total(after, "GET", "/api/debug/error", 500) == 1
    assert requests_total(after, "GET", "unmatched", 404) == 1
    assert requests_total(after, "GET", "/metrics", 200) == 0
    health = {"method": "GET", "path": "/health", "status_code": "200"}
    assert value(after, "http_request_duration_seconds_count", **health) == 3
    assert value(after, "http_request_duration_seconds_bucket", **health, le="+Inf") == 3
    assert value(after, "http_requests_in_progress", method="GET", path="/health") in (None, 0)
    assert value(after, "active_users") == 3
    assert value(after, "errors_total", type="DebugError", severity="error") == 1

    def queries(operation: str, table: str, success: str) -> float:
        labels = {"operation": operation, "table": table, "success": success}
        return value(after, "db_query_duration_seconds_count", **labels) or 0.0

    assert queries("INSERT", "products", "true") == 2
    assert queries("SELECT", "users", "true") >= 6  # one token lookup per authenticated call
    assert queries("SELECT", "no_such_table", "false") == 1
    assert all(s.labels.get("app") == "ykmake" for s in samples(after))


def test_in_progress_shows_a_slow_request_while_it_runs(app_factory: Callable[..., Any]) -> None:
    app = app_factory()
    slow = {"method": "GET", "path": "/api/debug/slow"}
    with serve(app) as base:
        results: list[int] = []
        worker = threading.Thread(
            target=lambda: results.append(
                httpx.get(f"{base}/api/debug/slow", params={"ms": 1500}, timeout=10).status_code
            )
        )
        worker.start()
        try:
            wait_until(lambda: value(scrape(base), "http_requests_in_progress", **slow) == 1)
        finally:
            worker.join(10)
        assert results == [200]
        assert value(scrape(base), "http_requests_in_progress", **slow) == 0
