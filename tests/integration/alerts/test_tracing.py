"""With tracing on, a sampled request becomes one Sentry transaction named by its route,
and its latency exemplar carries the trace id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.fakes.sentry_server import FakeSentry
from tests.support.server import serve

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def exemplars(text: str, path: str) -> list[dict[str, str]]:
    found = []
    for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
        if family.name != "http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("path") == path and sample.exemplar is not None:
                found.append(dict(sample.exemplar.labels))
    return found


@pytest.mark.usefixtures("sentry_cleanup")
def test_sampled_request_is_a_transaction_and_an_exemplar(
    app_factory: Callable[..., Any], fake_sentry: FakeSentry
) -> None:
    app = app_factory(sentry_dsn=fake_sentry.dsn, sentry_traces_sample_rate=1.0)
    with serve(app) as base:
        response = httpx.get(f"{base}/api/products/41")
        assert response.status_code == 404
        (transaction,) = fake_sentry.wait_for_events(1, timeout=10, item_type="transaction")
        metrics = httpx.get(f"{base}/metrics", headers={"Accept": OPENMETRICS}).text
    assert transaction["transaction"] == "GET /api/products/{product_id}"
    trace_id = transaction["contexts"]["trace"]["trace_id"]
    (exemplar,) = exemplars(metrics, "/api/products/{product_id}")
    assert exemplar["request_id"] == response.headers["x-request-id"]
    assert exemplar["trace_id"] == trace_id


@pytest.mark.usefixtures("sentry_cleanup")
def test_tracing_off_sends_no_transactions(
    app_factory: Callable[..., Any], fake_sentry: FakeSentry
) -> None:
    app = app_factory(sentry_dsn=fake_sentry.dsn, sentry_traces_sample_rate=0.0)
    with serve(app) as base:
        for _ in range(5):
            httpx.get(f"{base}/health")
        httpx.get(f"{base}/api/debug/error")
        fake_sentry.wait_for_events(1, timeout=10)
    assert fake_sentry.transactions == []
