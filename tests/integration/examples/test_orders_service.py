"""The orders example (examples/orders_service) under uvicorn, started the way its README says.

Each test runs ``uvicorn examples.orders_service.app:app`` as a subprocess in an empty working
directory with its settings in the environment: first with metrics and logs only, then with
alerts and Slack (the local fake) on. What is checked is what the other team would see: the
logs, ``/metrics``, the JSON 500, the files on disk, the alert and its Slack message.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_server import FakeSlack
from tests.support.logs import access_lines, read_lines
from tests.support.server import free_port, wait_until
from ykmake.monitoring import MonitoringSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "orders_service" / "app.py"
ADMIN_TOKEN = "admin-secret"
START_TIMEOUT = 30.0  # a cold interpreter imports FastAPI, SQLAlchemy and the toolkit


def service_env(**settings: str) -> dict[str, str]:
    """This process's environment without any toolkit setting of the developer's, plus ours."""
    ours = set(MonitoringSettings.variable_names())
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return env | settings


def answers(base: str) -> bool:
    """Any HTTP answer counts: with ADMIN_TOKEN set, ``/metrics`` says 401 without it."""
    try:
        httpx.get(f"{base}/metrics", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


@contextmanager
def orders_service(cwd: Path, env: dict[str, str], output: Path) -> Iterator[str]:
    """Run the example under uvicorn in ``cwd``; yields its URL, stops it with Ctrl-C (SIGINT)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "uvicorn", "examples.orders_service.app:app"]
    argv += ["--app-dir", str(REPO), "--host", "127.0.0.1", "--port", str(port)]
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until(lambda: proc.poll() is not None or answers(base), START_TIMEOUT, 0.05)
        except AssertionError:
            msg = f"the example did not answer within {START_TIMEOUT}s:\n{output.read_text()}"
            raise AssertionError(msg) from None
        if proc.poll() is not None:
            msg = f"the example exited with {proc.returncode}:\n{output.read_text()}"
            raise AssertionError(msg)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output.read_text()


def order_then_failed_payment(base: str) -> httpx.Response:
    """Create an order, read it back, then pay it: the route that fails on purpose."""
    created = httpx.post(f"{base}/orders", json={"item": "lamp", "quantity": 2})
    assert created.status_code == 201
    order = created.json()
    assert httpx.get(f"{base}/orders/{order['id']}").json() == order
    return httpx.post(f"{base}/orders/{order['id']}/pay")


def error_lines(log_dir: Path, request_id: str) -> list[dict[str, Any]]:
    lines = read_lines(log_dir / "error.log")
    return [line for line in lines if line.get("request_id") == request_id]


def started_line(log_dir: Path) -> dict[str, Any]:
    (line,) = [
        ln for ln in read_lines(log_dir / "combined.log") if ln["event"] == "monitoring started"
    ]
    return line


def samples(base: str) -> list[Any]:
    text = httpx.get(f"{base}/metrics").text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_with_metrics_and_logs_only_everything_is_named_orders_and_stays_in_log_dir(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    log_dir = cwd / "logs"  # the default LOG_DIR, relative to the working directory
    orders_db = tmp_path / "orders.db"  # the team's own database, kept out of the working dir
    env = service_env(ORDERS_DATABASE_URL=f"sqlite:///{orders_db}")
    with orders_service(cwd, env, tmp_path / "uvicorn.out") as base:
        failed = order_then_failed_payment(base)
        rid = failed.headers["x-request-id"]
        (error,) = wait_until(lambda: error_lines(log_dir, rid))
        wait_until(lambda: len(access_lines(log_dir)) >= 3)
        scraped = samples(base)
    access = access_lines(log_dir)

    assert failed.status_code == 500
    assert failed.json() == {"error": "internal_error", "request_id": rid}
    assert error["error_type"] == "PaymentProviderError"
    assert error["route"] == "/orders/{order_id}/pay"
    assert "payment provider timed out" in error["exception"]
    assert [(line["route"], line["status"], line["service"]) for line in access] == [
        ("/orders", 201, "orders"),
        ("/orders/{order_id}", 200, "orders"),
        ("/orders/{order_id}/pay", 500, "orders"),
    ]
    assert {s.labels.get("app") for s in scraped} == {"orders"}
    by_name = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in scraped}
    paid = (("app", "orders"), ("method", "POST"), ("path", "/orders/{order_id}/pay"))
    assert by_name["http_requests_total", (*paid, ("status_code", "500"))] == 1
    insert = (("app", "orders"), ("operation", "INSERT"), ("success", "true"))
    assert by_name["db_query_duration_seconds_count", (*insert, ("table", "orders"))] == 1

    assert started_line(log_dir)["alerts"] == "off"
    outside_logs = [p for p in cwd.rglob("*") if p != log_dir and log_dir not in p.parents]
    assert outside_logs == []
    with sqlite3.connect(orders_db) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert tables == {"orders"}  # no alert table slipped into the team's database either


def test_with_alerts_on_the_failed_payment_is_one_alert_in_slack_from_orders(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = service_env(
        ORDERS_DATABASE_URL=f"sqlite:///{tmp_path / 'orders.db'}",
        ALERT_DATABASE_URL=f"sqlite:///{tmp_path / 'alerts.db'}",
        SLACK_WEBHOOK_URL=fake_slack.webhook_url,
        ADMIN_TOKEN=ADMIN_TOKEN,  # the admin API, to read the stored alerts
    )
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with orders_service(cwd, env, tmp_path / "uvicorn.out") as base:
        failed = order_then_failed_payment(base)
        rid = failed.headers["x-request-id"]
        (request,) = fake_slack.wait_for(1, timeout=10)
        alerts = httpx.get(f"{base}/api/admin/alerts", headers=auth).json()

    assert failed.status_code == 500
    assert started_line(cwd / "logs")["alerts"] == "slack: webhook"
    (alert,) = alerts["items"]
    assert alert["source"] == "error"
    assert alert["details"]["request_id"] == rid
    assert alert["details"]["route"] == "/orders/{order_id}/pay"
    assert fake_slack.messages == [request.body]
    blocks = request.body["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"] == "[ERROR] PaymentProviderError in /orders/{order_id}/pay"
    (context,) = [block for block in blocks if block["type"] == "context"]
    assert context["elements"][0]["text"].startswith("*Service*: orders | ")
    assert rid in json.dumps(request.body)


def test_the_readme_shows_the_example_as_it_is() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Your own app\n", 1)[1].split("\n## ", 1)[0]
    snippets = [block.split("\n```", 1)[0] for block in section.split("```python\n")[1:]]
    example = EXAMPLE.read_text(encoding="utf-8")
    assert snippets
    for snippet in snippets:
        assert snippet in example, snippet
    assert "uvicorn examples.orders_service.app:app" in section
