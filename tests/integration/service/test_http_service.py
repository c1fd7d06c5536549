"""The service under a real uvicorn on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from tests.support.logs import access_lines, read_lines
from tests.support.server import free_port, serve, wait_until
from ykmake.app.users import create_user

pytestmark = pytest.mark.integration

ACCESS_FIELDS = {
    "timestamp",
    "level",
    "event",
    "service",
    "env",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "client_ip",
    "user_agent",
    "request_id",
}


def make_user(app: Any, name: str = "maker") -> tuple[int, str]:
    with Session(app.state.engine) as session:
        user, token = create_user(session, name)
        return user.id, token


def test_traffic_gives_one_json_access_line_per_request(
    app_factory: Callable[..., Any], database_url: str
) -> None:
    app = app_factory(database_url=database_url)
    user_id, token = make_user(app)
    auth = {"Authorization": f"Bearer {token}"}
    log_dir = app.state.settings.log_dir
    with serve(app) as base, httpx.Client(base_url=base) as c:
        responses = [
            c.get("/health"),
            c.get("/ready"),
            c.post("/api/products", json={"name": "Lamp", "price_cents": 1999}, headers=auth),
            c.get("/api/products/1"),
            c.get("/api/products", params={"page": 1, "per_page": 5}),
            c.get("/api/me", headers=auth),
            c.get("/api/products/999"),
            c.post("/api/products", json={"name": ""}, headers=auth),
            c.get("/api/me", headers={"Authorization": "Bearer wrong"}),
            c.get("/api/debug/error"),
        ]
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 201, 200, 200, 200, 404, 422, 401, 500]
        assert responses[4].json()["total"] == 1
        wait_until(lambda: len(access_lines(log_dir)) >= len(responses))
        lines = access_lines(log_dir)
    assert len(lines) == len(responses)
    # The access line is written once the response is sent, so the next request's line
    # may come first: match lines to responses by request id.
    by_id = {line["request_id"]: line for line in lines}
    assert len(by_id) == len(responses)
    matched = [by_id[r.headers["x-request-id"]] for r in responses]
    for line, response in zip(matched, responses, strict=True):
        assert line.keys() >= ACCESS_FIELDS
        assert line["status"] == response.status_code
        assert line["client_ip"] == "127.0.0.1"
    assert matched[2]["route"] == "/api/products"
    assert matched[3]["route"] == "/api/products/{product_id}"
    assert matched[5]["user_id"] == user_id
    assert "user_id" not in matched[0]
    for line in read_lines(log_dir / "combined.log"):
        assert {"timestamp", "level", "event", "service", "env"} <= line.keys()
    assert token not in (log_dir / "combined.log").read_text()


def test_debug_error_is_a_json_500_and_a_traceback_in_error_log(
    app_factory: Callable[..., Any],
) -> None:
    app = app_factory()
    log_dir = app.state.settings.log_dir
    with serve(app) as base:
        response = httpx.get(f"{base}/api/debug/error")
        rid = response.headers["x-request-id"]
        assert response.status_code == 500
        assert response.json() == {"error": "internal_error", "request_id": rid}
        (error,) = wait_until(lambda: read_lines(log_dir / "error.log"))
    assert error["request_id"] == rid
    assert "Traceback (most recent call last)" in error["exception"]
    assert "DebugError: debug error raised on purpose" in error["exception"]


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_client_disconnect_gives_the_premature_warning(
    app_factory: Callable[..., Any], http: str
) -> None:
    app = app_factory()
    log_dir = app.state.settings.log_dir
    with serve(app, http=http) as base:
        port = urlsplit(base).port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"GET /api/debug/slow?ms=400 HTTP/1.1\r\nHost: t\r\n"
                b"X-Request-ID: leaving-early\r\n\r\n"
            )
        (line,) = wait_until(lambda: access_lines(log_dir), timeout=10)
    assert line["event"] == "connection closed prematurely"
    assert line["level"] == "warning"
    assert line["request_id"] == "leaving-early"
    assert line["route"] == "/api/debug/slow"


def test_debug_routes_are_404_in_production(app_factory: Callable[..., Any]) -> None:
    app = app_factory(ykmake_env="production", metrics_token="m-token")
    with serve(app) as base:
        assert httpx.get(f"{base}/api/debug/error").status_code == 404
        assert httpx.get(f"{base}/api/debug/slow").status_code == 404


def test_ready_names_the_failed_check(app_factory: Callable[..., Any]) -> None:
    app = app_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with serve(app) as base:
        response = httpx.get(f"{base}/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


def test_migrations_create_the_schema(app_factory: Callable[..., Any], database_url: str) -> None:
    app = app_factory(database_url=database_url)
    tables = set(inspect(app.state.engine).get_table_names())
    assert {"users", "products", "alembic_version"} <= tables
