"""The README's tour, in the order it is written, on a fresh directory: serve, create a user,
send the requests of "1. Serve and send traffic", read the logs, see the metrics, then restart
with Slack and Sentry set and get an alert. Slack and Sentry are the local fakes; everything
else is what a newcomer runs (``ykmake serve``, ``ykmake users create``, the curl requests).

An error raised in step 1, while Slack was off, is stored; the same error in step 4 reaches
Slack at once (an alert nobody was told about is not folded away).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.fakes.sentry_server import FakeSentry
from tests.fakes.slack_server import FakeSlack
from tests.integration.cli.support import run_cli, serving
from tests.support.logs import read_lines

pytestmark = pytest.mark.integration


def serve_and_send_traffic(base: str, token: str) -> str:
    """Step 1's requests; returns the request id of the error."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10) as curl:
        assert curl.get("/health").json() == {"status": "ok"}
        assert curl.get("/ready").status_code == 200
        lamp = curl.post("/api/products", headers=auth, json={"name": "Lamp", "price_cents": 1999})
        assert lamp.status_code == 201
        assert curl.get("/api/products", params={"page": 1, "per_page": 20}).status_code == 200
        assert curl.get(f"/api/products/{lamp.json()['id']}").json()["name"] == "Lamp"
        assert curl.get("/api/me", headers=auth).json()["name"] == "alice"
        assert curl.get("/api/debug/slow", params={"ms": 700}).status_code == 200
        error = curl.get("/api/debug/error")
    assert error.status_code == 500
    request_id = error.headers["x-request-id"]
    assert error.json() == {"error": "internal_error", "request_id": request_id}
    return request_id


def read_the_logs(logs: Path, error_id: str) -> None:
    access = [
        line for line in read_lines(logs / "combined.log") if line["event"] == "request completed"
    ]
    assert {line["path"] for line in access} >= {"/health", "/api/products", "/api/debug/error"}
    (traceback,) = [line for line in read_lines(logs / "error.log") if "exception" in line]
    assert traceback["request_id"] == error_id
    assert "Traceback (most recent call last)" in traceback["exception"]


def see_the_metrics(base: str) -> None:
    text = httpx.get(f"{base}/metrics").text
    assert (
        'http_requests_total{app="ykmake",method="POST",path="/api/products",status_code="201"}'
        in text
    )
    assert 'errors_total{app="ykmake",severity="error",type="DebugError"}' in text


def test_the_readme_tour_in_order(
    tmp_path: Path, fake_slack: FakeSlack, fake_sentry: FakeSentry
) -> None:
    env: dict[str, str] = {}  # the embedded defaults: SQLite and ./logs in the directory
    with serving([], env, tmp_path) as (_, port):
        base = f"http://127.0.0.1:{port}"
        created = run_cli(["users", "create", "alice"], env, tmp_path)
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip().splitlines()[-1]
        assert token.startswith("ykm_")
        first_error = serve_and_send_traffic(base, token)
        see_the_metrics(base)
    read_the_logs(tmp_path / "logs", first_error)

    # 4. Get an alert: Slack (token and channel) and Sentry set, the service restarted.
    env = {
        "SLACK_TOKEN": "xoxb-tour",
        "SLACK_CHANNEL": "#alerts",
        "SLACK_API_URL": fake_slack.base_url,
        "SENTRY_DSN": fake_sentry.dsn,
    }
    with serving([], env, tmp_path) as (_, port):
        error = httpx.get(f"http://127.0.0.1:{port}/api/debug/error", timeout=10)
        assert error.status_code == 500
        (event,) = fake_sentry.wait_for_events(1, timeout=15)
        fake_slack.wait_for(1, timeout=15)
    request_id = error.headers["x-request-id"]
    assert event["tags"]["request_id"] == request_id
    (message,) = fake_slack.messages
    text = json.dumps(message)
    assert message["attachments"][0]["blocks"][0]["text"]["text"].startswith(
        "[ERROR] DebugError in /api/debug/error"
    )
    assert request_id in text  # the newest occurrence's id
    assert "2 times" in text  # the one from step 1, stored while Slack was off, and this one
    assert "Service*: ykmake" in text
