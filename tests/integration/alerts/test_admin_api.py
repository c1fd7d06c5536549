"""The alerts admin API in the running service, on SQLite and PostgreSQL, with the fake Slack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack
from tests.support.server import serve, wait_until
from ykmake.monitoring.alerts.admin_api import ADMIN_ALERTS_PATH as ALERTS

pytestmark = pytest.mark.integration

TOKEN = "admin-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def header(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


def test_operators_list_ack_and_resolve_alerts(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> None:
    app = app_factory(
        database_url=database_url,
        admin_token=TOKEN,
        slack_api_url=fake_slack.base_url,
        slack_token="xoxb-test",
        slack_channel="#alerts",
        alert_worker_interval_seconds=0.05,
    )
    mon = app.state.monitoring
    before = datetime.now(UTC) - timedelta(seconds=1)
    with serve(app) as base, httpx.Client(base_url=base, headers=AUTH, timeout=10) as c:
        for i in range(7):
            mon.send_alert("warning" if i % 2 else "error", f"alert {i}", "seeded")
        fake_slack.wait_for(7, timeout=10)
        wait_until(lambda: mon.alerts.store.pending_count() == 0)  # marked sent, too

        page = c.get(ALERTS, params={"severity": "error", "per_page": 3, "page": 2}).json()
        assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 1)
        since = c.get(ALERTS, params={"since": before.isoformat()}).json()
        assert since["total"] == 7
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert c.get(ALERTS, params={"since": later}).json()["total"] == 0

        first = c.get(ALERTS, params={"per_page": 1}).json()["items"][0]
        shown = c.get(f"{ALERTS}/{first['id']}").json()
        assert [(n["kind"], n["status"]) for n in shown["notifications"]] == [("new", "sent")]

        acked = c.post(f"{ALERTS}/{first['id']}/ack")
        assert acked.json()["status"] == "acknowledged"
        assert c.get(ALERTS, params={"status": "acknowledged"}).json()["total"] == 1

        resolved = c.post(f"{ALERTS}/{first['id']}/resolve")
        assert resolved.json()["status"] == "resolved"
        wait_until(lambda: len(fake_slack.messages) == 8)
        assert header(fake_slack.messages[-1]) == f"[RESOLVED] {first['title']}"

        assert c.get(f"{ALERTS}/424242").status_code == 404
        assert c.post(f"{ALERTS}/424242/resolve").status_code == 404
        assert c.get(ALERTS, params={"status": "gone"}).status_code == 400
        assert c.get(ALERTS, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(base + ALERTS).status_code == 401


def test_the_admin_api_is_not_there_without_an_admin_token(
    app_factory: Callable[..., Any],
) -> None:
    app = app_factory()
    with serve(app) as base:
        response = httpx.get(base + ALERTS, headers=AUTH)
    assert response.status_code == 404
