"""The seed's metrics, on a dedicated registry, moving as traffic, logins and errors happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tests.conftest import SettingsFactory
from tests.support.logs import access_lines
from ykmake.app.users import create_user
from ykmake.monitoring.metrics.catalogue import DB_BUCKETS, HTTP_BUCKETS
from ykmake.monitoring.metrics.families import MonitoringMetrics
from ykmake.monitoring.metrics.http import HttpMetrics
from ykmake.monitoring.setup import setup_monitoring

AppFactory = Callable[..., Any]
SEED_LABELS = {
    "http_requests": ("method", "path", "status_code"),
    "http_request_duration_seconds": ("method", "path", "status_code"),
    "http_requests_in_progress": ("method", "path"),
    "active_users": (),
    "db_query_duration_seconds": ("operation", "table", "success"),
    "errors": ("type", "severity"),
}


def client(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


Observe = Callable[[str, str, int, float, str], None]


def recorder(metrics: MonitoringMetrics) -> Observe:
    """``observe(method, route, status, seconds, request_id)`` as the middleware records."""
    http = HttpMetrics(metrics.http, metrics.http_requests_in_progress, lambda _scope: "-")

    def observe(method: str, route: str, status: int, seconds: float, request_id: str) -> None:
        http.finished({"method": method}, route, status, seconds, request_id)

    return observe


def registry_of(app: Any) -> CollectorRegistry:
    registry: CollectorRegistry = app.state.monitoring.metrics.registry
    return registry


def requests_total(app: Any, method: str, path: str, status: int) -> float | None:
    labels = {"method": method, "path": path, "status_code": str(status)}
    return registry_of(app).get_sample_value("http_requests_total", labels)


def make_user(app: Any, name: str) -> str:
    with Session(app.state.engine) as session:
        return create_user(session, name)[1]


def test_building_metrics_registers_nothing_globally() -> None:
    before = generate_latest(REGISTRY)
    metrics = MonitoringMetrics()
    recorder(metrics)("GET", "/x", 200, 0.01, "rid")
    assert b"http_requests_total" not in generate_latest(REGISTRY)
    assert generate_latest(REGISTRY).count(b"\n# HELP") == before.count(b"\n# HELP")


@pytest.mark.parametrize("multiprocess", [False, True])
def test_names_labels_and_buckets_are_the_seeds(multiprocess: bool) -> None:
    metrics = MonitoringMetrics(multiprocess=multiprocess)
    recorder(metrics)("GET", "/x", 200, 0.2, "rid")
    metrics.http_requests_in_progress.labels("GET", "/x").set(1)
    metrics.db_query_duration_seconds.labels("SELECT", "users", "true").observe(0.002)
    metrics.errors_total.labels("ValueError", "error").inc()
    metrics.active_users.set(3)
    families = {f.name: list(f.samples) for f in metrics.registry.collect()}
    for name, labels in SEED_LABELS.items():
        sample = families[name][0]
        assert tuple(k for k in sample.labels if k != "le") == labels, name
    http = families["http_request_duration_seconds"]
    les = [float(s.labels["le"]) for s in http if s.name.endswith("_bucket")]
    assert les == [*HTTP_BUCKETS, float("inf")]
    db = families["db_query_duration_seconds"]
    assert [float(s.labels["le"]) for s in db if s.name.endswith("_bucket")] == [
        *DB_BUCKETS,
        float("inf"),
    ]
    assert (DB_BUCKETS[0], DB_BUCKETS[-1]) == (0.001, 1.0)
    assert (HTTP_BUCKETS[0], HTTP_BUCKETS[-1]) == (0.005, 10.0)


OBSERVATIONS = [
    ("GET", "/x", 200, 0.0049),
    ("GET", "/x", 200, 0.005),  # on a bound: counted in that bucket, as upstream
    ("GET", "/x", 200, 0.3),
    ("POST", "/y/{id}", 201, 12.0),  # past the last bound: +Inf only
    ("FOO", "unmatched", 404, 0.001),
    ("BAR", "unmatched", 404, 0.002),
]


def http_samples(metrics: MonitoringMetrics) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for f in metrics.registry.collect()
        if f.name in ("http_requests", "http_request_duration_seconds")
        for s in f.samples
        if not s.name.endswith("_created")
    ]


def test_the_lock_free_series_expose_what_prometheus_client_would() -> None:
    """One process uses its own collector, workers use prometheus_client's metrics: the
    samples (and their order within a family) must not tell them apart."""
    ours, theirs = MonitoringMetrics(), MonitoringMetrics(multiprocess=True)
    for metrics in (ours, theirs):
        observe = recorder(metrics)
        for method, route, status, seconds in OBSERVATIONS:
            observe(method, route, status, seconds, "rid")
    assert http_samples(ours) == http_samples(theirs)

    def shape(metrics: MonitoringMetrics) -> list[tuple[str, str, list[str]]]:
        return [
            (f.name, f.type, [s.name for s in f.samples])
            for f in metrics.registry.collect()
            if f.name.startswith("http_request")
        ]

    assert shape(ours) == shape(theirs)
    assert (
        ours.registry.get_sample_value(
            "http_requests_total", {"method": "OTHER", "path": "unmatched", "status_code": "404"}
        )
        == 2
    )


def test_process_platform_and_gc_collectors_are_on_the_registry() -> None:
    registry = MonitoringMetrics().registry
    assert registry.get_sample_value("process_cpu_seconds_total") is not None
    assert registry.get_sample_value("python_info", {}) is None  # has labels: look it up
    names = {s.name for f in registry.collect() for s in f.samples}
    assert {"process_resident_memory_bytes", "python_info"} <= names
    assert any(n.startswith("python_gc_") for n in names)


@pytest.fixture
def app(app_factory: AppFactory) -> Any:
    return app_factory()


def test_red_metrics_use_the_route_template(app: Any) -> None:
    async def go() -> None:
        async with client(app) as c:
            for product_id in (1, 2, 3):
                assert (await c.get(f"/api/products/{product_id}")).status_code == 404
            assert (await c.get("/health")).status_code == 200
            assert (await c.get("/no/such/page")).status_code == 404
            assert (await c.delete("/health")).status_code == 405

    asyncio.run(go())
    assert requests_total(app, "GET", "/api/products/{product_id}", 404) == 3
    assert requests_total(app, "GET", "/health", 200) == 1
    assert requests_total(app, "GET", "unmatched", 404) == 1
    assert requests_total(app, "DELETE", "/health", 405) == 1
    assert requests_total(app, "GET", "/api/products/1", 404) is None
    labels = {"method": "GET", "path": "/api/products/{product_id}", "status_code": "404"}
    registry = registry_of(app)
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) == 3
    assert (registry.get_sample_value("http_request_duration_seconds_sum", labels) or 0) > 0
    inf = registry.get_sample_value(
        "http_request_duration_seconds_bucket", {**labels, "le": "+Inf"}
    )
    assert inf == 3


def test_one_observation_per_request_matches_the_access_log(app: Any) -> None:
    async def go() -> None:
        async with client(app) as c:
            for _ in range(5):
                await c.get("/health")

    asyncio.run(go())
    app.state.monitoring.logging.close()
    lines = access_lines(app.state.settings.log_dir)
    assert len(lines) == 5
    assert requests_total(app, "GET", "/health", 200) == 5


def test_in_progress_counts_a_slow_request_while_it_runs(app: Any) -> None:
    labels = {"method": "GET", "path": "/api/debug/slow"}

    async def in_progress(c: httpx.AsyncClient) -> float | None:
        response = await c.get("/metrics")
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "http_requests_in_progress" and sample.labels.items() >= (
                    labels.items()
                ):
                    return sample.value
        return None

    async def go() -> tuple[list[float | None], float | None]:
        async with client(app) as c:
            slow = asyncio.create_task(c.get("/api/debug/slow", params={"ms": 300}))
            seen = []
            while not slow.done():  # scrape while it runs; its own sleep bounds the loop
                seen.append(await in_progress(c))
            assert (await slow).status_code == 200
            return seen, await in_progress(c)

    during, after = asyncio.run(go())
    assert 1.0 in during
    assert after == 0.0


def test_metrics_scrape_is_neither_counted_nor_in_progress(app: Any) -> None:
    async def go() -> str:
        async with client(app) as c:
            await c.get("/metrics")
            return (await c.get("/metrics")).text

    body = asyncio.run(go())
    assert 'path="/metrics"' not in body
    assert 'path="unmatched"' not in body
    assert requests_total(app, "GET", "/metrics", 200) is None


def test_errors_total_counts_captured_errors(app: Any) -> None:
    async def go() -> None:
        async with client(app) as c:
            for _ in range(2):
                assert (await c.get("/api/debug/error")).status_code == 500

    asyncio.run(go())
    registry = registry_of(app)
    errors = {"type": "DebugError", "severity": "error"}
    assert registry.get_sample_value("errors_total", errors) == 2
    assert requests_total(app, "GET", "/api/debug/error", 500) == 2


def test_active_users_counts_distinct_authenticated_users(app: Any) -> None:
    tokens = [make_user(app, f"maker{i}") for i in range(3)]

    async def go() -> None:
        async with client(app) as c:
            for token in [*tokens, *tokens, tokens[0]]:
                response = await c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200
            assert (await c.get("/api/me", headers={"Authorization": "Bearer nope"})).is_error
            await c.get("/metrics")  # the gauge is computed at scrape time

    registry = registry_of(app)
    asyncio.run(go())
    assert registry.get_sample_value("active_users") == 3


def test_db_queries_of_the_service_are_timed(app: Any) -> None:
    token = make_user(app, "maker")

    async def go() -> None:
        async with client(app) as c:
            auth = {"Authorization": f"Bearer {token}"}
            created = await c.post(
                "/api/products", json={"name": "Lamp", "price_cents": 5}, headers=auth
            )
            assert created.status_code == 201
            assert (await c.get("/api/products")).status_code == 200

    asyncio.run(go())
    registry = registry_of(app)

    def count(operation: str, table: str) -> float | None:
        labels = {"operation": operation, "table": table, "success": "true"}
        return registry.get_sample_value("db_query_duration_seconds_count", labels)

    assert (count("INSERT", "products") or 0) >= 1
    assert (count("SELECT", "products") or 0) >= 1
    assert (count("SELECT", "users") or 0) >= 1  # the bearer-token lookup


def test_every_series_carries_the_app_label(app: Any) -> None:
    async def go() -> str:
        async with client(app) as c:
            await c.get("/health")
            await c.get("/api/debug/error")
            return (await c.get("/metrics")).text

    families = list(text_string_to_metric_families(asyncio.run(go())))
    samples = [s for f in families for s in f.samples]
    assert len(samples) > 50
    assert all(s.labels.get("app") == "ykmake" for s in samples)
    assert {"http_requests", "process_cpu_seconds", "python_info"} <= {f.name for f in families}


def test_a_long_request_id_costs_the_exemplar_not_the_observation(app: Any) -> None:
    """OpenMetrics caps exemplar labels at 128 characters; a valid 128-character id must
    still be counted once, observed once and logged."""
    long_id = "x" * 128

    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/health", headers={"X-Request-ID": long_id})

    assert asyncio.run(go()).headers["x-request-id"] == long_id
    labels = {"method": "GET", "path": "/health", "status_code": "200"}
    registry = registry_of(app)
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) == 1
    assert (
        registry.get_sample_value("http_request_duration_seconds_bucket", {**labels, "le": "+Inf"})
        == 1
    )
    app.state.monitoring.logging.close()
    (line,) = access_lines(app.state.settings.log_dir)
    assert line["request_id"] == long_id


@pytest.mark.parametrize(
    ("request_id", "exemplar"),
    [("a" * 118, True), ("a" * 119, False)],
)
def test_exemplar_fits_the_openmetrics_limit(request_id: str, exemplar: bool) -> None:
    metrics = MonitoringMetrics(process_collectors=False)
    recorder(metrics)("GET", "/x", 200, 0.001, request_id)
    buckets = [
        s
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "http_request_duration_seconds_bucket" and s.labels["le"] == "0.005"
    ]
    assert buckets[0].value == 1
    assert (buckets[0].exemplar is not None) is exemplar


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture
def fastapi_app(make_settings: SettingsFactory) -> Iterator[FastAPI]:
    app = FastAPI()
    app.add_route("/plain/{item_id}", plain)  # FastAPI leaves scope["route"] unset for these
    app.add_route("/other/{item_id}", plain, methods=["GET"])  # same endpoint, second path

    @app.get("/api/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing_id": thing_id}

    app.mount("/sub", sub)
    app.router.routes.append(Mount("/users/{uid}", routes=[Route("/posts/{post}", plain)]))
    shared = Route("/items/{n}", plain)  # one route object under two mounts
    app.router.routes += [Mount("/left", routes=[shared]), Mount("/right", routes=[shared])]
    mon = setup_monitoring(app, make_settings())
    yield app
    mon.logging.close()


@pytest.mark.parametrize(
    ("method", "url", "template", "status"),
    [
        ("GET", "/plain/1", "/plain/{item_id}", 200),
        ("GET", "/other/2", "/other/{item_id}", 200),
        ("POST", "/other/2", "/other/{item_id}", 405),
        ("GET", "/api/items/3", "/api/items/{item_id}", 200),
        ("GET", "/sub/things/4", "/sub/things/{thing_id}", 200),
        ("GET", "/users/42/posts/7", "/users/{uid}/posts/{post}", 200),
        ("GET", "/docs", "/docs", 200),
        ("GET", "/openapi.json", "/openapi.json", 200),
        ("GET", "/nowhere", "unmatched", 404),
    ],
)
def test_every_kind_of_route_is_labelled_with_its_template(
    fastapi_app: FastAPI, method: str, url: str, template: str, status: int
) -> None:
    async def go() -> int:
        async with client(fastapi_app) as c:
            return (await c.request(method, url)).status_code

    assert asyncio.run(go()) == status
    assert requests_total(fastapi_app, method, template, status) == 1


def test_a_route_under_two_mounts_is_labelled_by_the_mount_that_served_it(
    fastapi_app: FastAPI,
) -> None:
    # The same route object serves both: what the first request worked out for it must not
    # label the second.
    async def go() -> list[int]:
        async with client(fastapi_app) as c:
            return [
                (await c.get(url)).status_code
                for url in ("/left/items/1", "/right/items/2", "/left/items/3")
            ]

    assert asyncio.run(go()) == [200, 200, 200]
    assert requests_total(fastapi_app, "GET", "/left/items/{n}", 200) == 2
    assert requests_total(fastapi_app, "GET", "/right/items/{n}", 200) == 1
