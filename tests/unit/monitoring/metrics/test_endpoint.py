"""GET /metrics: who may scrape it, and the OpenMetrics exposition with exemplars."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, cast

import anyio
import anyio.to_thread
import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families

# Unannotated upstream; typed here so mypy --strict stays meaningful.
parse_openmetrics = cast(Callable[[str], Iterable[Metric]], text_string_to_metric_families)

AppFactory = Callable[..., Any]
LOOPBACK = "127.0.0.1"
REMOTE = "203.0.113.5"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(app: Any, peer: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.get("/metrics", headers=headers or {})

    return asyncio.run(go())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("peer", "headers", "status"),
    [
        (LOOPBACK, {}, 401),
        (LOOPBACK, bearer("wrong"), 401),
        (LOOPBACK, bearer("m-secret" + "x"), 401),
        (LOOPBACK, {"Authorization": "Basic m-secret"}, 401),
        (LOOPBACK, {"Authorization": "m-secret"}, 401),
        (LOOPBACK, bearer("m-secret"), 200),
        (REMOTE, bearer("m-secret"), 200),
        (REMOTE, bearer("a-secret"), 200),  # the admin token works too
        (REMOTE, {"Authorization": "bearer m-secret"}, 200),  # the scheme is case-insensitive
        (REMOTE, {}, 401),
    ],
)
@pytest.mark.parametrize("env", ["test", "production"])
def test_with_a_token_configured_only_a_valid_bearer_gets_in(
    app_factory: AppFactory, env: str, peer: str, headers: dict[str, str], status: int
) -> None:
    app = app_factory(ykmake_env=env, metrics_token="m-secret", admin_token="a-secret")
    response = scrape(app, peer, headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "m-secret" not in response.text
        assert "a-secret" not in response.text
    else:
        assert "http_requests_total" in response.text or "# HELP" in response.text


def test_the_admin_token_alone_protects_metrics(app_factory: AppFactory) -> None:
    app = app_factory(admin_token="a-secret")
    assert scrape(app, LOOPBACK).status_code == 401
    assert scrape(app, REMOTE, bearer("a-secret")).status_code == 200


@pytest.mark.parametrize(
    ("env", "peer", "status"),
    [
        ("development", LOOPBACK, 200),
        ("development", "::1", 200),
        ("development", "::ffff:127.0.0.1", 200),  # IPv4 loopback on a dual-stack socket
        ("development", "127.0.0.2", 200),
        ("development", "::ffff:203.0.113.5", 403),
        ("development", "not-an-ip", 403),
        ("development", REMOTE, 403),
        ("test", LOOPBACK, 200),
        ("test", REMOTE, 403),
        ("production", LOOPBACK, 403),
        ("production", REMOTE, 403),
    ],
)
def test_without_a_token_only_loopback_outside_production(
    app_factory: AppFactory, env: str, peer: str, status: int
) -> None:
    app = app_factory(ykmake_env=env)
    response = scrape(app, peer)
    assert response.status_code == status
    if status == 403:
        assert "METRICS_TOKEN" in response.json()["detail"]


def test_text_format_by_default(app_factory: AppFactory) -> None:
    response = scrape(app_factory(), LOOPBACK)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in response.text


def test_openmetrics_with_request_id_exemplars(app_factory: AppFactory) -> None:
    app = app_factory()

    async def traffic() -> list[str]:
        transport = httpx.ASGITransport(app=app, client=(LOOPBACK, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            ids = [(await c.get("/health")).headers["x-request-id"] for _ in range(3)]
            ids.append((await c.get("/api/products/1")).headers["x-request-id"])
            return ids

    request_ids = asyncio.run(traffic())
    response = scrape(app, LOOPBACK, {"Accept": OPENMETRICS})
    assert response.headers["content-type"].startswith(OPENMETRICS)
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(response.text)}
    buckets = [
        s
        for s in families["http_request_duration_seconds"].samples
        if s.name == "http_request_duration_seconds_bucket"
    ]
    exemplars = [s.exemplar for s in buckets if s.exemplar is not None]
    assert exemplars
    seen = {e.labels["request_id"] for e in exemplars}
    assert seen <= set(request_ids)
    assert request_ids[-1] in seen  # the only /api/products request: its bucket holds its id
    assert request_ids[2] in seen  # the latest /health request
    for exemplar in exemplars:
        assert exemplar.value >= 0
    samples = [s for f in families.values() for s in f.samples]
    assert all(s.labels.get("app") == "ykmake" for s in samples)


def test_a_scrape_answers_while_the_app_holds_every_shared_worker_thread(
    app_factory: AppFactory,
) -> None:
    """Sync endpoints waiting on a hanging database take all of anyio's default threads;
    the scrape renders under a limit of its own and still answers."""
    app = app_factory()

    async def go() -> httpx.Response:
        shared = anyio.to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(shared.total_tokens))]
        for holder in holders:
            await shared.acquire_on_behalf_of(holder)
        try:
            with anyio.fail_after(5):
                transport = httpx.ASGITransport(app=app, client=(LOOPBACK, 1234))
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                    return await c.get("/metrics")
        finally:
            for holder in holders:
                shared.release_on_behalf_of(holder)

    response = asyncio.run(go())
    assert response.status_code == 200
    assert "http_requests_total" in response.text
