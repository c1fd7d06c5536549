"""The alerts admin API on a bare Starlette app: auth, filters, pages, ack/resolve, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette

from tests.conftest import SettingsFactory
from tests.support.alerts import make_alert_service
from ykmake.monitoring.alerts.admin_api import (
    ADMIN_ALERTS_PATH,
    AdminAPI,
    AlertDetail,
    AlertOut,
    AlertPage,
)
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.monitoring.http.auth import BearerGuard
from ykmake.monitoring.setup import setup_monitoring

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> Iterator[AlertService]:
    store = AlertStore(engine, notify=True)
    store.create_tables()
    svc, runtime = make_alert_service(store, tmp_path)
    yield svc
    svc.close()
    runtime.close()


@pytest.fixture
def app(service: AlertService) -> Starlette:
    guard = BearerGuard(
        "admin", [TOKEN], subject="the admin API", setting="ADMIN_TOKEN",
        loopback_without_token=False,
    )  # fmt: skip
    return Starlette(routes=AdminAPI(service, guard=guard.denied, log=service.log).routes())


def call(
    app: Starlette, method: str, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return await c.request(method, url, headers=AUTH if headers is None else headers)

    return asyncio.run(go())


def seed(service: AlertService) -> dict[str, int]:
    """Five alerts, one an hour from T0, across severities, sources and statuses."""
    rows = [
        ("info", "app", "deploy finished"),
        ("warning", "alertmanager", "disk filling"),
        ("error", "error", "ZeroDivisionError in /api/x"),
        ("critical", "alertmanager", "error budget burning"),
        ("error", "app", "payment provider slow"),
    ]
    ids: dict[str, int] = {}
    for hour, (severity, source, title) in enumerate(rows):
        result = service.store.record(
            severity=severity,
            title=title,
            message="m",
            details=None,
            source=source,
            fingerprint=f"fp-{hour}",
            now=T0 + timedelta(hours=hour),
        )
        ids[title] = int(result.alert["id"])
    service.store.set_status(ids["deploy finished"], "resolved")
    service.store.set_status(ids["disk filling"], "acknowledged")
    return ids


ROUTES = [
    ("GET", ADMIN_ALERTS_PATH),
    ("GET", f"{ADMIN_ALERTS_PATH}/1"),
    ("POST", f"{ADMIN_ALERTS_PATH}/1/ack"),
    ("POST", f"{ADMIN_ALERTS_PATH}/1/resolve"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Token {TOKEN}"}],
    ids=["none", "wrong", "scheme"],
)
def test_every_route_wants_the_admin_token(
    app: Starlette, service: AlertService, method: str, url: str, headers: dict[str, str]
) -> None:
    seed(service)
    response = call(app, method, url, headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert service.store.get_alert(1)["status"] == "resolved"  # type: ignore[index]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_without_an_admin_token_configured_the_api_is_not_there(
    engine: Engine, make_settings: SettingsFactory, method: str, url: str
) -> None:
    app = Starlette()
    monitoring = setup_monitoring(app, make_settings(), engine=engine)
    try:
        response = call(app, method, url)  # even from loopback, even with some token
    finally:
        monitoring.close()
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ("", ["payment provider slow", "error budget burning", "ZeroDivisionError in /api/x",
              "disk filling", "deploy finished"]),
        ("?severity=error", ["payment provider slow", "ZeroDivisionError in /api/x"]),
        ("?status=open", ["payment provider slow", "error budget burning",
                          "ZeroDivisionError in /api/x"]),
        ("?status=acknowledged", ["disk filling"]),
        ("?source=alertmanager", ["error budget burning", "disk filling"]),
        ("?source=alertmanager&severity=critical", ["error budget burning"]),
        ("?since=2024-05-01T15:00:00Z", ["payment provider slow", "error budget burning"]),
        ("?since=2024-05-01T17:00:00%2B02:00", ["payment provider slow", "error budget burning"]),
        ("?since=2024-05-01T15:00:00", ["payment provider slow", "error budget burning"]),
        ("?since=2024-05-02", []),
        ("?severity=&status=", ["payment provider slow", "error budget burning",
                                "ZeroDivisionError in /api/x", "disk filling", "deploy finished"]),
    ],
)  # fmt: skip
def test_filters(app: Starlette, service: AlertService, query: str, titles: list[str]) -> None:
    seed(service)
    response = call(app, "GET", ADMIN_ALERTS_PATH + query)
    assert response.status_code == 200
    body = response.json()
    assert [a["title"] for a in body["items"]] == titles  # newest first
    assert body["total"] == len(titles)


def test_pages(app: Starlette, service: AlertService) -> None:
    seed(service)
    pages = [call(app, "GET", f"{ADMIN_ALERTS_PATH}?per_page=2&page={p}").json() for p in (1, 2, 3)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert {(p["total"], p["pages"], p["per_page"]) for p in pages} == {(5, 3, 2)}
    ids = [a["id"] for p in pages for a in p["items"]]
    assert len(set(ids)) == 5
    beyond = call(app, "GET", f"{ADMIN_ALERTS_PATH}?per_page=2&page=9").json()
    assert (beyond["items"], beyond["total"]) == ([], 5)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("severity=loud", "severity: Input should be 'info', 'warning', 'error' or 'critical'"),
        ("status=closed", "status: Input should be"),
        ("source=cron", "source: Input should be"),
        ("since=yesterday", "since: Input should be a valid datetime"),
        ("since=0001-01-01T00:00:00%2B05:00", "since: out of range"),
        ("since=0.0", "since: Value error, expected an RFC 3339 date-time"),  # not Unix time
        ("since=1714557600", "since: Value error, expected an RFC 3339 date-time"),
        ("page=0", "page: Input should be greater than or equal to 1"),
        ("page=abc", "page: Input should be a valid integer"),
        ("per_page=1000", "per_page: Input should be less than or equal to 200"),
        ("severty=error", "severty: unknown filter"),
    ],
)
def test_bad_filters_are_a_400(
    app: Starlette, service: AlertService, query: str, detail: str
) -> None:
    seed(service)
    response = call(app, "GET", f"{ADMIN_ALERTS_PATH}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_query"
    assert response.json()["detail"].startswith(detail)


def test_show_has_the_notifications(app: Starlette, service: AlertService) -> None:
    ids = seed(service)
    response = call(app, "GET", f"{ADMIN_ALERTS_PATH}/{ids['error budget burning']}")
    assert response.status_code == 200
    alert = response.json()
    assert alert["title"] == "error budget burning"
    assert [n["kind"] for n in alert["notifications"]] == ["new"]
    assert alert["notifications"][0]["status"] == "pending"


def test_ack_then_resolve(app: Starlette, service: AlertService) -> None:
    ids = seed(service)
    alert_id = ids["payment provider slow"]
    acked = call(app, "POST", f"{ADMIN_ALERTS_PATH}/{alert_id}/ack").json()
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_at"] is not None
    resolved = call(app, "POST", f"{ADMIN_ALERTS_PATH}/{alert_id}/resolve").json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    again = call(app, "POST", f"{ADMIN_ALERTS_PATH}/{alert_id}/ack").json()
    assert again["status"] == "resolved"  # acknowledging an alert that is over changes nothing
    # Its fingerprint is free again: the next occurrence is a new alert.
    fresh = service.send_alert("error", "payment provider slow", "again", fingerprint="fp-4")
    assert fresh is not None
    assert fresh["id"] != alert_id


@pytest.mark.parametrize("alert_id", ["999", "0", "-1", "abc", "1.5", "99999999999999999999", "٣"])
@pytest.mark.parametrize("suffix", ["", "/ack", "/resolve"])
def test_unknown_ids_are_a_404(
    app: Starlette, service: AlertService, alert_id: str, suffix: str
) -> None:
    seed(service)
    method = "GET" if not suffix else "POST"
    response = call(app, method, f"{ADMIN_ALERTS_PATH}/{alert_id}{suffix}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_database_down_is_a_503_not_a_500(
    app: Starlette, service: AlertService, engine: Engine
) -> None:
    seed(service)

    def refuse(*_args: Any, **_kw: Any) -> None:
        raise OperationalError("connect", {}, ConnectionRefusedError("database is down"))

    event.listen(engine, "do_connect", refuse)
    engine.dispose()
    for method, url in ROUTES:
        response = call(app, method, url)
        assert response.status_code == 503, url
        assert response.json()["error"] == "store_unavailable"


def test_details_json_cannot_hold_are_served_not_a_500(
    app: Starlette, service: AlertService
) -> None:
    """An app's details may hold a lone surrogate (a file name from the OS) or NaN: stored
    as JSON escapes, they come back as Python values UTF-8 and strict JSON cannot hold."""
    stored = service.send_alert(
        "error", "odd details", "m", {"path": "/data/r\udcffport", "ratio": float("nan")}
    )
    assert stored is not None
    for url in (ADMIN_ALERTS_PATH, f"{ADMIN_ALERTS_PATH}/{stored['id']}"):
        response = call(app, "GET", url)
        assert response.status_code == 200
        body = response.json()
        details = body["items"][0]["details"] if "items" in body else body["details"]
        assert details == {"path": "/data/r\udcffport", "ratio": None}  # the escape, read back
    acked = call(app, "POST", f"{ADMIN_ALERTS_PATH}/{stored['id']}/ack")
    assert acked.status_code == 200
    assert acked.json()["details"]["ratio"] is None


def test_answers_match_their_documented_models(app: Starlette, service: AlertService) -> None:
    ids = seed(service)
    alert_id = ids["payment provider slow"]
    AlertPage.model_validate_json(call(app, "GET", ADMIN_ALERTS_PATH).content)
    detail = AlertDetail.model_validate_json(
        call(app, "GET", f"{ADMIN_ALERTS_PATH}/{alert_id}").content
    )
    assert detail.notifications
    AlertOut.model_validate_json(call(app, "POST", f"{ADMIN_ALERTS_PATH}/{alert_id}/ack").content)
