"""The service's /metrics as Prometheus reads it: promtool on the text format, and the
OpenMetrics parser (exemplars included) on what Prometheus asks for by default."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.metrics.scrape import OPENMETRICS, parse_openmetrics, scrape
from tests.support.server import serve
from tests.support.services import missing

pytestmark = pytest.mark.integration
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def traffic(base: str) -> list[str]:
    with httpx.Client(base_url=base) as c:
        ids = [c.get("/health").headers["x-request-id"] for _ in range(3)]
        c.get("/api/products/1")
        c.get("/api/debug/error")
        return ids


def test_text_exposition_passes_promtool(app_factory: Callable[..., Any]) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing("promtool (Debian package prometheus)")
        return
    with serve(app_factory()) as base:
        traffic(base)
        body = scrape(base)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""  # no lint findings either


def test_openmetrics_as_prometheus_negotiates_it(app_factory: Callable[..., Any]) -> None:
    with serve(app_factory()) as base:
        request_ids = traffic(base)
        response = httpx.get(f"{base}/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
        body = scrape(base, openmetrics=True)
    assert response.headers["content-type"].startswith(OPENMETRICS)
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(body)}
    assert {"http_requests", "http_request_duration_seconds", "errors"} <= families.keys()
    health = [
        s
        for s in families["http_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["path"] == "/health" and s.exemplar
    ]
    assert health
    assert {s.exemplar.labels["request_id"] for s in health if s.exemplar} <= set(request_ids)
    assert all(s.labels["app"] == "ykmake" for f in families.values() for s in f.samples)
