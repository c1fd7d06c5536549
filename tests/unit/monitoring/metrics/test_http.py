"""Label values are bounded: a flood of random URLs and methods adds no series."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from ykmake.monitoring.metrics.http import STANDARD_METHODS

HTTP_FAMILIES = ("http_requests", "http_request_duration_seconds", "http_requests_in_progress")
ODD_METHODS = ("FOO", "PROPFIND", "MKCOL", "BREW", "get", "M-SEARCH")
TEMPLATES = {"/health", "/api/products/{product_id}", "unmatched"}
Message = dict[str, Any]


async def call(app: Any, method: str, path: str) -> int:
    """One request straight into the ASGI app (20k of them through httpx would be slow)."""
    status = 0
    received = False

    async def receive() -> Message:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # a live client: no disconnect
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 5555),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return status


def series(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (sample name, labels) of the HTTP families."""
    return {
        (s.name, tuple(sorted(s.labels.items())))
        for family in registry.collect()
        if family.name in HTTP_FAMILIES
        for s in family.samples
    }


def random_method(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.5:
        return rng.choice(sorted(STANDARD_METHODS))
    if pick < 0.8:
        return rng.choice(ODD_METHODS)
    return "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))


def random_path(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.1:
        return "/health"
    if pick < 0.2:
        return f"/api/products/{rng.randint(1, 10**9)}"
    if pick < 0.3:
        return "/api/products/" + "".join(rng.choices(string.ascii_letters, k=8))
    alphabet = string.ascii_letters + string.digits + "-_.~%"
    segments = ["".join(rng.choices(alphabet, k=rng.randint(1, 16))) for _ in range(4)]
    return "/" + "/".join(segments[: rng.randint(1, 4)])


def examples() -> list[str]:
    """One URL of each kind the flood sends."""
    return ["/health", "/api/products/7", "/api/products/seven", "/a/b/c"]


def test_random_urls_and_methods_add_no_series(app_factory: Callable[..., Any]) -> None:
    app = app_factory()
    registry: CollectorRegistry = app.state.monitoring.metrics.registry
    rng = random.Random(20240501)

    async def go() -> int:
        # Every method class on every kind of URL once: all the series there can be.
        for method in [*sorted(STANDARD_METHODS), "FOO"]:
            for path in examples():
                await call(app, method, path)
        before = len(series(registry))
        statuses = [await call(app, random_method(rng), random_path(rng)) for _ in range(10_000)]
        assert {404, 405} <= set(statuses)
        return before

    before = asyncio.run(go())
    after = series(registry)
    assert len(after) == before
    labels = [dict(labels) for _, labels in after]
    assert {label["path"] for label in labels} <= TEMPLATES
    assert {label["method"] for label in labels} <= STANDARD_METHODS | {"OTHER"}
    counted = registry.get_sample_value(
        "http_requests_total", {"method": "OTHER", "path": "unmatched", "status_code": "404"}
    )
    assert counted is not None
    assert counted > 2000  # the odd and random methods really were sent, and folded
