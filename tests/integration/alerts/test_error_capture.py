"""One 5xx: one Sentry event, one error line, errors_total + 1, one alert — one request id."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.sentry_server import FakeSentry
from tests.fakes.slack_server import FakeSlack
from tests.support.logs import read_lines
from tests.support.server import serve, wait_until

pytestmark = pytest.mark.integration


def slack_settings(fake_slack: FakeSlack) -> dict[str, Any]:
    return {
        "slack_api_url": fake_slack.base_url,
        "slack_token": "xoxb-test",
        "slack_channel": "#alerts",
        "alert_worker_interval_seconds": 0.05,
    }


def errors_total(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "errors_total" and sample.labels.get("type") == "DebugError":
                return float(sample.value)
    return 0.0


@pytest.mark.usefixtures("sentry_cleanup")
def test_a_5xx_is_reported_once_everywhere_with_one_request_id(
    app_factory: Callable[..., Any], fake_sentry: FakeSentry, fake_slack: FakeSlack
) -> None:
    app = app_factory(sentry_dsn=fake_sentry.dsn, **slack_settings(fake_slack))
    log_dir = app.state.settings.log_dir
    with serve(app) as base:
        before = errors_total(base)
        response = httpx.get(
            f"{base}/api/debug/error",
            headers={"Authorization": "Bearer very-secret", "Cookie": "session=abc123"},
        )
        assert response.status_code == 500
        rid = response.headers["x-request-id"]
        assert errors_total(base) == before + 1
        (event,) = fake_sentry.wait_for_events(1, timeout=10)
        fake_slack.wait_for(1, timeout=10)
        alerts = app.state.monitoring.alerts.store.list_alerts()[0]
    # Sentry: one event, tagged with the request id, scrubbed.
    assert event["tags"]["request_id"] == rid
    assert event["exception"]["values"][-1]["type"] == "DebugError"
    raw = json.dumps(event)
    assert "very-secret" not in raw
    assert "abc123" not in raw
    # The error log: one line for the error, with the same ids.
    errors = [
        ln for ln in read_lines(log_dir / "error.log") if ln.get("error_type") == "DebugError"
    ]
    assert len(errors) == 1
    assert errors[0]["request_id"] == rid
    assert errors[0]["sentry_event_id"] == event["event_id"]
    # One alert, carrying the request id, route and Sentry event id; one Slack message.
    (alert,) = alerts
    assert alert["source"] == "error"
    assert alert["details"]["request_id"] == rid
    assert alert["details"]["route"] == "/api/debug/error"
    assert alert["details"]["sentry_event_id"] == event["event_id"]
    (message,) = fake_slack.messages
    assert rid in json.dumps(message)


def test_without_sentry_errors_are_grouped_locally(
    app_factory: Callable[..., Any], fake_slack: FakeSlack
) -> None:
    app = app_factory(**slack_settings(fake_slack))
    with serve(app) as base:
        for _ in range(20):
            assert httpx.get(f"{base}/api/debug/error").status_code == 500
        store = app.state.monitoring.alerts.store
        wait_until(lambda: (a := store.list_alerts()[0]) and a[0]["occurrences"] == 20)
        fake_slack.wait_for(1, timeout=10)
        (alert,) = store.list_alerts()[0]
    assert alert["title"] == "DebugError in /api/debug/error"
    assert len(fake_slack.messages) == 1  # the storm is folded


def test_requests_never_wait_for_a_hanging_slack(
    app_factory: Callable[..., Any], fake_slack: FakeSlack
) -> None:
    fake_slack.hang(30)
    app = app_factory(**slack_settings(fake_slack), slack_timeout_seconds=20)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        client.get("/api/debug/error")  # an alert whose delivery now hangs in Slack
        fake_slack.wait_for(1, timeout=10)
        started = time.monotonic()
        for _ in range(10):
            assert client.get("/api/debug/error").status_code == 500
            assert client.get("/health").status_code == 200
        elapsed = time.monotonic() - started
    # Slack holds every delivery for 20 s; twenty requests that waited on it could not
    # have finished in less than that. This is a bound on behaviour, not a benchmark.
    assert elapsed < 10
