"""The Alertmanager webhook over real HTTP: SQLite and PostgreSQL, the fake Slack, and a real
Alertmanager posting to it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack
from tests.support.server import free_port, serve, wait_until
from tests.support.services import missing
from ykmake.monitoring.alerts.alertmanager import WEBHOOK_PATH
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.stack.processes import ServiceSpec, running_services

pytestmark = pytest.mark.integration

TOKEN = "am-webhook-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def slack_settings(fake_slack: FakeSlack, **overrides: Any) -> dict[str, Any]:
    return {
        "slack_api_url": fake_slack.base_url,
        "slack_token": "xoxb-test",
        "slack_channel": "#alerts",
        "alertmanager_webhook_token": TOKEN,
        "alert_worker_interval_seconds": 0.05,
        "alert_backoff_base_seconds": 0.05,
        "alert_backoff_max_seconds": 0.2,
        **overrides,
    }


def am_alert(
    name: str,
    fingerprint: str,
    *,
    status: str = "firing",
    severity: str = "critical",
    summary: str = "",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "ykmake"},
        "annotations": {"summary": summary, "description": f"{name} details"} if summary else {},
        "startsAt": "2024-05-01T10:00:00.5Z",
        "endsAt": "2024-05-01T10:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def common(maps: list[dict[str, str]]) -> dict[str, str]:
    """What every map has, as Alertmanager computes commonLabels and commonAnnotations."""
    shared = dict(maps[0]) if maps else {}
    for other in maps[1:]:
        shared = {k: v for k, v in shared.items() if other.get(k) == v}
    return shared


def am_payload(*alerts: dict[str, Any], group_key: str = "{}:{}") -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "ykmake-webhook",
        "groupLabels": {},
        "commonLabels": common([a["labels"] for a in alerts]),
        "commonAnnotations": common([a["annotations"] for a in alerts]),
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def section_texts(message: dict[str, Any]) -> list[str]:
    blocks = message["attachments"][0]["blocks"]
    return [str(b["text"]["text"]) for b in blocks if b["type"] == "section"]


def header(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


def store_of(app: Any) -> AlertStore:
    store: AlertStore = app.state.monitoring.alerts.store
    return store


@pytest.fixture
def am_app(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> Iterator[tuple[Any, httpx.Client]]:
    app = app_factory(**slack_settings(fake_slack, database_url=database_url))
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield app, client


def test_firing_then_resolved_reach_the_store_and_slack(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    page = am_alert("HighErrorRate", "aaaa000000000001", severity="page", summary="5xx above 5%")
    ticket = am_alert("DiskFilling", "aaaa000000000002", severity="ticket")
    response = client.post(WEBHOOK_PATH, json=am_payload(page, ticket), headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "received": 2, "firing": 2, "resolved": 0, "unmatched": 0, "spooled": 0
    }  # fmt: skip
    fake_slack.wait_for(1, timeout=10)
    alerts = {a["fingerprint"]: a for a in store_of(app).list_alerts(source="alertmanager")[0]}
    assert set(alerts) == {"am:aaaa000000000001", "am:aaaa000000000002"}
    paged, ticketed = alerts["am:aaaa000000000001"], alerts["am:aaaa000000000002"]
    assert (paged["severity"], paged["title"]) == ("critical", "HighErrorRate: 5xx above 5%")
    assert paged["message"] == "HighErrorRate details"
    assert paged["details"]["labels"]["severity"] == "page"
    assert paged["details"]["generatorURL"] == "http://prometheus:9090/graph"
    assert (ticketed["severity"], ticketed["title"]) == ("warning", "DiskFilling")
    # One message for the group, as loud as its loudest alert, listing both.
    (message,) = fake_slack.messages
    assert header(message) == "[CRITICAL] Alerts with service=ykmake"
    listed = "\n".join(section_texts(message))
    assert "*HighErrorRate*" in listed
    assert "*DiskFilling*" in listed

    # Alertmanager sends the whole group again: one resolved, one still firing.
    resolved = am_alert("HighErrorRate", "aaaa000000000001", status="resolved")
    response = client.post(WEBHOOK_PATH, json=am_payload(resolved, ticket), headers=AUTH)
    assert response.status_code == 200
    assert response.json()["resolved"] == 1
    fake_slack.wait_for(2, timeout=10)
    update = fake_slack.messages[-1]
    assert header(update) == "[WARNING] Alerts with service=ykmake"
    assert section_texts(update)[0] == "*1 alert firing · 1 resolved*"
    statuses = {a["fingerprint"]: a["status"] for a in store_of(app).list_alerts()[0]}
    assert statuses == {"am:aaaa000000000001": "resolved", "am:aaaa000000000002": "open"}


def test_a_resent_firing_alert_updates_the_same_row(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    body = am_payload(am_alert("Flappy", "bbbb000000000001", severity="warning"))
    for _ in range(3):
        assert client.post(WEBHOOK_PATH, json=body, headers=AUTH).status_code == 200
    escalated = am_payload(am_alert("Flappy", "bbbb000000000001", severity="critical"))
    assert client.post(WEBHOOK_PATH, json=escalated, headers=AUTH).status_code == 200
    (alert,), total = store_of(app).list_alerts()
    assert total == 1
    assert alert["occurrences"] == 4
    assert alert["severity"] == "critical"
    fake_slack.wait_for(1, timeout=10)
    assert len(fake_slack.messages) == 1  # the repeats wait for the storm window's digest


def test_resolved_while_slack_is_down_arrives_after_the_firing_message(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    _app, client = am_app
    fake_slack.go_down()
    fire = am_payload(am_alert("Blip", "cccc000000000001"))
    assert client.post(WEBHOOK_PATH, json=fire, headers=AUTH).status_code == 200
    fake_slack.wait_for(1, timeout=10)  # tried, and failed
    resolve = am_payload(am_alert("Blip", "cccc000000000001", status="resolved"))
    assert client.post(WEBHOOK_PATH, json=resolve, headers=AUTH).json()["resolved"] == 1
    fake_slack.come_back()
    wait_until(lambda: len(fake_slack.messages) == 2, timeout=15)
    assert [header(m) for m in fake_slack.messages] == ["[CRITICAL] Blip", "[RESOLVED] Blip"]


def test_resolving_before_delivery_queues_resolved_behind_the_first_message(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        store = AlertStore(engine)
        store.create_tables()
        store.record(
            severity="error",
            title="fast",
            message="fired and resolved before the worker ran",
            details=None,
            source="alertmanager",
            fingerprint="am:fast",
        )
        assert store.resolve_fingerprint("am:fast") is not None
        first = store.claim_due()
        assert [c.kind for c in first] == ["new"]  # "resolved" waits until this one is out
        store.mark_sent(first[0])
        assert [c.kind for c in store.claim_due()] == ["resolved"]
    finally:
        engine.dispose()


def test_bad_requests_are_4xx_and_lose_nothing(
    app_factory: Callable[..., Any], fake_slack: FakeSlack
) -> None:
    app = app_factory(**slack_settings(fake_slack, webhook_max_body_bytes=2048))
    good = am_payload(am_alert("Kept", "dddd000000000001"))
    big = json.dumps(am_payload(am_alert("Big", "dddd000000000002", summary="x" * 4000)))

    def chunked(total: int) -> Iterator[bytes]:
        for _ in range(total // 256):
            yield b" " * 256

    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.post(WEBHOOK_PATH, json=good, headers=AUTH).status_code == 200
        fake_slack.wait_for(1, timeout=10)
        answers = {
            "not json": client.post(WEBHOOK_PATH, content=b"{oops", headers=AUTH),
            "wrong type": client.post(
                WEBHOOK_PATH, json={**good, "alerts": [{"labels": []}]}, headers=AUTH
            ),
            "missing": client.post(WEBHOOK_PATH, json={"version": "4"}, headers=AUTH),
            "version": client.post(WEBHOOK_PATH, json={**good, "version": "3"}, headers=AUTH),
            "no token": client.post(WEBHOOK_PATH, json=good),
            "wrong token": client.post(
                WEBHOOK_PATH, json=good, headers={"Authorization": "Bearer nope"}
            ),
            "too long": client.post(WEBHOOK_PATH, content=big.encode(), headers=AUTH),
            "too long, chunked": client.post(WEBHOOK_PATH, content=chunked(16384), headers=AUTH),
        }
        statuses = {name: r.status_code for name, r in answers.items()}
        assert statuses == {
            "not json": 400, "wrong type": 400, "missing": 400, "version": 400,
            "no token": 401, "wrong token": 401, "too long": 413, "too long, chunked": 413,
        }  # fmt: skip
        assert answers["missing"].json() == {
            "error": "invalid_payload",
            "detail": "receiver: Field required (and 2 more)",
        }
        assert "Content-Length" not in str(answers["too long, chunked"].request.headers)
        # Nothing stored was touched, and Slack heard only the one good alert.
        (alert,), total = store_of(app).list_alerts()
        assert (total, alert["title"], alert["status"]) == (1, "Kept", "open")
        assert alert["occurrences"] == 1
        assert client.get("/health").status_code == 200
    assert len(fake_slack.messages) == 1


# -- a real Alertmanager ------------------------------------------------------------------


def alertmanager_config(webhook_url: str) -> str:
    return json.dumps(  # YAML is a superset of JSON
        {
            "route": {
                "receiver": "ykmake",
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "ykmake",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {"type": "Bearer", "credentials": TOKEN}
                            },
                        }
                    ],
                }
            ],
        }
    )


def test_a_real_alertmanager_fires_and_resolves_through_the_webhook(
    app_factory: Callable[..., Any], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        missing("the prometheus-alertmanager binary")
    assert binary is not None
    app = app_factory(**slack_settings(fake_slack))
    store = store_of(app)
    with serve(app) as base:
        config = tmp_path / "alertmanager.yml"
        config.write_text(alertmanager_config(base + WEBHOOK_PATH), encoding="utf-8")
        port = free_port()
        am_url = f"http://127.0.0.1:{port}"
        spec = ServiceSpec(
            "alertmanager",
            (
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ),
            f"{am_url}/-/ready",
            tmp_path / "alertmanager.log",
        )
        labels = {"alertname": "YkMakeTest", "severity": "page", "service": "ykmake"}
        now = datetime.now(UTC)
        with running_services([spec]), httpx.Client(base_url=am_url, timeout=10) as am:
            fired = {
                "labels": labels,
                "annotations": {"summary": "from a real Alertmanager"},
                "startsAt": now.isoformat(),
                "generatorURL": "http://prometheus/graph",
            }
            assert am.post("/api/v2/alerts", json=[fired]).status_code == 200
            (stored,) = wait_until(lambda: store.list_alerts(source="alertmanager")[0], 20)
            (am_alert_,) = am.get("/api/v2/alerts").json()
            assert stored["fingerprint"] == "am:" + am_alert_["fingerprint"]
            assert stored["severity"] == "critical"
            assert stored["title"] == "YkMakeTest: from a real Alertmanager"
            fake_slack.wait_for(1, timeout=10)

            ended = {**fired, "endsAt": (now + timedelta(milliseconds=10)).isoformat()}
            assert am.post("/api/v2/alerts", json=[ended]).status_code == 200
            wait_until(lambda: store.get_alert(stored["id"])["status"] == "resolved", 20)  # type: ignore[index]
        wait_until(lambda: len(fake_slack.messages) == 2, timeout=10)
    assert [header(m) for m in fake_slack.messages] == [
        "[CRITICAL] YkMakeTest: from a real Alertmanager",
        "[RESOLVED] YkMakeTest: from a real Alertmanager",
    ]
