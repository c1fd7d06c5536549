"""The Alertmanager webhook on a bare Starlette app: parsing, mapping, auth, limits."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import SettingsFactory
from tests.support.alerts import make_alert_service
from ykmake.monitoring.alerts.alertmanager import (
    WEBHOOK_PATH,
    AlertmanagerPayload,
    AlertmanagerWebhook,
    alert_fields,
    severity_of,
)
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.monitoring.http.auth import BearerGuard
from ykmake.monitoring.setup import setup_monitoring

TOKEN = "am-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.9", 40000)

# As Alertmanager 0.25 sends it (docs: "webhook_config"), one firing and one resolved alert.
SAMPLE: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="YkMakeHighErrorRate"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "ykmake-webhook",
    "groupLabels": {"alertname": "YkMakeHighErrorRate"},
    "commonLabels": {"alertname": "YkMakeHighErrorRate", "service": "ykmake"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "YkMakeHighErrorRate",
                "service": "ykmake",
                "severity": "page",
                "instance": "app:8000",
            },
            "annotations": {
                "summary": "5xx ratio above 5%",
                "description": "7.2% of requests failed over the last 5 minutes.",
            },
            "startsAt": "2024-05-01T10:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
            "fingerprint": "3f1c9a0b2d4e5f60",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "YkMakeHighErrorRate", "service": "ykmake"},
            "annotations": {},
            "startsAt": "2024-05-01T09:00:00Z",
            "endsAt": "2024-05-01T09:30:00Z",
            "generatorURL": "",
            "fingerprint": "00000000000000aa",
        },
    ],
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[AlertService]:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    store = AlertStore(engine, notify=False)
    store.create_tables()
    svc, runtime = make_alert_service(store, tmp_path)
    yield svc
    svc.close()
    runtime.close()
    engine.dispose()


def build_app(service: AlertService, settings: Any) -> Starlette:
    """The webhook alone on a Starlette app, guarded as setup_monitoring guards it."""
    token = settings.alertmanager_webhook_token
    guard = BearerGuard(
        "alertmanager",
        [token.get_secret_value()] if token is not None else [],
        subject="the webhook",
        setting="ALERTMANAGER_WEBHOOK_TOKEN",
        loopback_without_token=not settings.is_production,
    )
    webhook = AlertmanagerWebhook(
        service, guard=guard.denied, max_body_bytes=settings.webhook_max_body_bytes, log=service.log
    )
    return Starlette(routes=webhook.routes())


def post(
    app: Starlette,
    content: bytes | AsyncIterator[bytes],
    headers: dict[str, str] | None = None,
    client: tuple[str, int] = LOOPBACK,
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await c.post(WEBHOOK_PATH, content=content, headers=headers or {})

    return asyncio.run(go())


@pytest.fixture
def app(service: AlertService, make_settings: SettingsFactory) -> Starlette:
    settings = make_settings(alertmanager_webhook_token=TOKEN, webhook_max_body_bytes=4096)
    return build_app(service, settings)


# -- mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("info", "info"),
        ("warning", "warning"),
        ("error", "error"),
        ("critical", "critical"),
        ("CRITICAL", "critical"),
        ("page", "critical"),
        ("ticket", "warning"),
        ("none", "warning"),
        (None, "warning"),
    ],
)
def test_severity_label_maps_onto_our_four(label: str | None, expected: str) -> None:
    labels = {"alertname": "X"} if label is None else {"alertname": "X", "severity": label}
    assert severity_of(labels) == expected


def test_the_sample_payload_parses_with_alertmanagers_zero_end_time() -> None:
    payload = AlertmanagerPayload.model_validate_json(json.dumps(SAMPLE))
    assert [a.status for a in payload.alerts] == ["firing", "resolved"]
    assert payload.alerts[0].ends_at is not None
    assert payload.alerts[0].ends_at.year == 1
    assert payload.group_key.startswith("{}/")


def test_fields_of_a_firing_alert() -> None:
    payload = AlertmanagerPayload.model_validate(SAMPLE)
    fields = alert_fields(payload.alerts[0])
    assert fields["severity"] == "critical"
    assert fields["title"] == "YkMakeHighErrorRate: 5xx ratio above 5%"
    assert fields["message"] == "7.2% of requests failed over the last 5 minutes."
    details = fields["details"]
    assert details["labels"]["instance"] == "app:8000"
    assert details["annotations"]["summary"] == "5xx ratio above 5%"
    assert details["startsAt"].startswith("2024-05-01T10:00:00.123456")
    assert details["generatorURL"].startswith("http://prometheus:9090/")


@pytest.mark.parametrize(
    ("annotations", "title", "message"),
    [
        ({}, "Disk", "Disk is firing"),
        ({"summary": "full"}, "Disk: full", "full"),
        ({"description": "95% used"}, "Disk", "95% used"),
    ],
)
def test_title_and_message_fall_back(annotations: dict[str, str], title: str, message: str) -> None:
    raw = {**SAMPLE["alerts"][0], "labels": {"alertname": "Disk"}, "annotations": annotations}
    payload = AlertmanagerPayload.model_validate({**SAMPLE, "alerts": [raw]})
    fields = alert_fields(payload.alerts[0])
    assert (fields["title"], fields["message"]) == (title, message)


# -- the endpoint ---------------------------------------------------------------------------


def test_firing_is_stored_and_resolved_resolves(app: Starlette, service: AlertService) -> None:
    firing = {**SAMPLE, "alerts": [SAMPLE["alerts"][0]]}
    response = post(app, json.dumps(firing).encode(), AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "received": 1, "firing": 1, "resolved": 0, "unmatched": 0, "spooled": 0
    }  # fmt: skip
    (alert,), _ = service.store.list_alerts()
    assert alert["fingerprint"] == "am:3f1c9a0b2d4e5f60"
    assert (alert["source"], alert["severity"], alert["status"]) == (
        "alertmanager", "critical", "open"
    )  # fmt: skip

    resolved = {**SAMPLE["alerts"][0], "status": "resolved", "endsAt": "2024-05-01T10:05:00Z"}
    body = {**SAMPLE, "status": "resolved", "alerts": [resolved, SAMPLE["alerts"][1]]}
    response = post(app, json.dumps(body).encode(), AUTH)
    assert response.status_code == 200
    assert response.json()["resolved"] == 1
    assert response.json()["unmatched"] == 1  # never seen firing: nothing to resolve
    stored = service.store.get_alert(alert["id"])
    assert stored is not None
    assert stored["status"] == "resolved"


def invalid(**changes: Any) -> bytes:
    return json.dumps({**SAMPLE, **changes}).encode()


def invalid_alert(**changes: Any) -> bytes:
    alert = {**SAMPLE["alerts"][0], **changes}
    alerts = [{k: v for k, v in alert.items() if v is not None}]
    return json.dumps({**SAMPLE, "alerts": alerts}).encode()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"", "Invalid JSON", id="empty"),
        pytest.param(b"not json", "Invalid JSON", id="not-json"),
        pytest.param(b"\xff\xfe\x00", "Invalid JSON", id="not-utf8"),
        pytest.param(b"[1, 2]", "Input should be an object", id="array"),
        pytest.param(b"[" * 3000, "recursion limit", id="deep-nesting"),
        pytest.param(invalid(version="3"), "version: Input should be '4'", id="version"),
        pytest.param(invalid(alerts="many"), "alerts: Input should be a valid array", id="alerts"),
        pytest.param(
            invalid(status="pending"), "status: Input should be 'firing' or 'resolved'", id="status"
        ),
        pytest.param(
            json.dumps({"version": "4"}).encode(),
            "receiver: Field required (and 2 more)",
            id="bare",
        ),
        pytest.param(invalid_alert(labels=None), "alerts.0.labels: Field required", id="no-labels"),
        pytest.param(
            invalid_alert(fingerprint=None), "alerts.0.fingerprint: Field required", id="no-fp"
        ),
        pytest.param(
            invalid_alert(fingerprint=""), "alerts.0.fingerprint: String should have", id="empty-fp"
        ),
        pytest.param(
            invalid_alert(labels={"severity": 3}), "alerts.0.labels.severity: Input", id="label-int"
        ),
        pytest.param(
            invalid_alert(startsAt="yesterday"), "alerts.0.startsAt: Input should be", id="time"
        ),
    ],
)
def test_malformed_body_is_a_400_with_the_reason(
    app: Starlette, service: AlertService, body: bytes, detail: str
) -> None:
    service.send_alert("error", "already here", "must survive")
    response = post(app, body, AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payload"
    assert detail in response.json()["detail"]
    items, total = service.store.list_alerts()
    assert total == 1
    assert items[0]["title"] == "already here"
    assert items[0]["status"] == "open"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["none", "wrong", "basic"],
)
def test_without_the_token_it_is_a_401(
    app: Starlette, service: AlertService, headers: dict[str, str]
) -> None:
    response = post(app, invalid(), headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert service.store.list_alerts()[1] == 0


@pytest.mark.parametrize("env", ["development", "test", "production"])
def test_without_a_configured_token_the_webhook_is_not_there(
    tmp_path: Path, make_settings: SettingsFactory, env: str
) -> None:
    app = Starlette()
    settings = make_settings(ykmake_env=env, alert_database_url=f"sqlite:///{tmp_path / 'a.db'}")
    monitoring = setup_monitoring(app, settings)
    try:
        response = post(app, invalid(), client=LOOPBACK)
    finally:
        monitoring.close()
        assert monitoring.alerts is not None
        monitoring.alerts.close()
    assert response.status_code == 404


def test_content_length_over_the_limit_is_a_413(app: Starlette, service: AlertService) -> None:
    body = invalid(commonAnnotations={"pad": "x" * 5000})
    response = post(app, body, AUTH)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert service.store.list_alerts()[1] == 0


def test_a_chunked_body_is_counted_while_read(app: Starlette) -> None:
    sent: list[int] = []

    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 512):
            sent.append(512)
            yield b" " * 512  # JSON whitespace: the size, not the content, is under test

    assert post(app, chunks(8192), AUTH).status_code == 413
    assert sum(sent) <= 4096 + 512  # stopped reading right after the limit

    async def small() -> AsyncIterator[bytes]:
        body = invalid()
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    response = post(app, small(), AUTH)
    assert response.status_code == 200, response.text


def test_random_bodies_never_get_a_500(app: Starlette) -> None:
    rng = random.Random(4)
    alert = SAMPLE["alerts"][0]
    values: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], {}, [1], {"a": 1}, "4", 10**30]
    for _ in range(120):
        body = json.loads(json.dumps(SAMPLE))
        target = body if rng.random() < 0.4 else body["alerts"][0]
        key = rng.choice(list(target if target is body else alert))
        target[key] = rng.choice(values)
        status = post(app, json.dumps(body).encode(), AUTH).status_code
        assert status in (200, 400), (key, target[key])
    for _ in range(30):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        assert post(app, garbage, AUTH).status_code == 400


def test_an_integral_number_is_a_count(app: Starlette) -> None:
    """2.0 is an integer to JSON Schema, so to the document; true and "2" are not."""
    assert post(app, invalid(truncatedAlerts=2.0), AUTH).status_code == 200
    assert post(app, invalid(truncatedAlerts="2"), AUTH).status_code == 400


def test_a_payload_whose_second_alert_is_invalid_stores_nothing(
    app: Starlette, service: AlertService
) -> None:
    second = {**SAMPLE["alerts"][0], "fingerprint": "0000000000000bad", "labels": None}
    body = {**SAMPLE, "alerts": [SAMPLE["alerts"][0], second]}
    response = post(app, json.dumps(body).encode(), AUTH)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("alerts.1.labels: ")
    assert service.store.list_alerts()[1] == 0  # not even the valid first one


@pytest.mark.parametrize(
    ("body", "where"),
    [
        # PostgreSQL's text cannot hold NUL: the alert would fail there and sit in the spool.
        (invalid_alert(labels={"alertname": "Disk\x00full"}), "alerts.0.labels.alertname"),
        (invalid_alert(labels={"a\x00": "b"}), "alerts.0.labels.a\x00.[key]"),
        (invalid_alert(annotations={"summary": "\x00"}), "alerts.0.annotations.summary"),
        (invalid_alert(fingerprint="ab\x00"), "alerts.0.fingerprint"),
        # A lone surrogate escape: JSON, but not Unicode.
        (
            invalid_alert(labels={"x": "PLACEHOLDER"}).replace(b"PLACEHOLDER", rb"\udcff"),
            "Invalid JSON: lone leading surrogate",
        ),
        # JSON's true is not a count, nor a number a time (pydantic reads both).
        (invalid(truncatedAlerts=True), "truncatedAlerts"),
        (invalid_alert(endsAt=1714557600), "alerts.0.endsAt: Value error, expected an RFC 3339"),
        (invalid_alert(startsAt="0.0"), "alerts.0.startsAt: Value error, expected an RFC 3339"),
    ],
    ids=[
        "nul-label",
        "nul-key",
        "nul-annotation",
        "nul-fingerprint",
        "surrogate",
        "bool-count",
        "number-time",
        "number-text-time",
    ],
)
def test_text_or_numbers_the_store_cannot_take_are_a_400_that_stores_nothing(
    app: Starlette, service: AlertService, body: bytes, where: str
) -> None:
    response = post(app, body, AUTH)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(where)
    assert service.store.list_alerts()[1] == 0


def test_alerts_are_written_while_the_app_holds_every_shared_worker_thread(
    app: Starlette, service: AlertService
) -> None:
    """An app whose sync endpoints hang takes all of anyio's default threads; the webhook
    writes under a limit of its own."""

    async def go() -> httpx.Response:
        shared = anyio.to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(shared.total_tokens))]
        for holder in holders:
            await shared.acquire_on_behalf_of(holder)
        try:
            with anyio.fail_after(5):
                transport = httpx.ASGITransport(app=app, client=LOOPBACK)
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                    return await c.post(WEBHOOK_PATH, json=SAMPLE, headers=AUTH)
        finally:
            for holder in holders:
                shared.release_on_behalf_of(holder)

    response = asyncio.run(go())
    assert response.status_code == 200
    assert response.json()["firing"] == 1
