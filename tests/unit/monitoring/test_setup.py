"""setup_monitoring on someone else's app: only what is switched on is built."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import ykmake.monitoring as monitoring_api
from tests.support.logs import read_lines
from ykmake.monitoring.exceptions import SettingsError
from ykmake.monitoring.settings import MonitoringSettings
from ykmake.monitoring.setup import Monitoring, setup_monitoring


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan started, and a loopback client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


def settings(tmp_path: Path, **values: Any) -> MonitoringSettings:
    return MonitoringSettings(
        _env_file=None, environment="test", log_dir=tmp_path / "logs", **values
    )


async def boom(_request: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def plain_app() -> Starlette:
    async def hello(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/hello", hello), Route("/boom", boom)])


@pytest.fixture
def in_tmp_dir(tmp_path: Path) -> Iterator[Path]:
    """Run from an empty working directory, to see every file the toolkit creates."""
    work = tmp_path / "work"
    work.mkdir()
    cwd = Path.cwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(cwd)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_plain_app_gets_request_ids_the_access_log_and_metrics_and_nothing_else(
    in_tmp_dir: Path,
) -> None:
    app = plain_app()
    mon = setup_monitoring(app, MonitoringSettings(_env_file=None, environment="test"))
    threads_before = {t.name for t in threading.enumerate()}

    async def go() -> tuple[httpx.Response, httpx.Response, httpx.Response, set[str]]:
        async with running(app) as client:
            hello = await client.get("/hello")
            failed = await client.get("/boom")
            scrape = await client.get("/metrics")
            tasks = {t.get_name() for t in asyncio.all_tasks()}
            return hello, failed, scrape, tasks

    try:
        hello, failed, scrape, tasks = asyncio.run(go())
    finally:
        mon.close()
    assert len(hello.headers["x-request-id"]) == 32
    assert failed.status_code == 500
    assert failed.json()["request_id"] == failed.headers["x-request-id"]
    assert "http_requests_total" in scrape.text
    assert mon.alerts is None
    assert not mon.sentry
    assert (mon.errors.sentry, mon.errors.alerts) == (None, None)
    assert not any("outbox" in name for name in tasks)
    # Threads of ours: the log writer, and the error thread the 500 started (anyio's workers,
    # which ran the scrape, may still be winding down; they are the app's thread pool).
    ours = {t.name for t in threading.enumerate() if not t.name.startswith("AnyIO worker")}
    assert ours - threads_before <= {"ykmake-log-writer", "ykmake-errors_0"}
    # The only files: the logs and their writers' lock, in LOG_DIR (./logs by default).
    assert files_under(in_tmp_dir) <= {
        "logs/.writers.lock",
        "logs/combined.log",
        "logs/error.log",
        "logs/exceptions.log",
        "logs/rejections.log",
    }
    lines = read_lines(in_tmp_dir / "logs" / "combined.log")
    assert any(line["event"] == "request completed" for line in lines)


def test_the_service_name_names_the_logs_and_the_metrics(tmp_path: Path) -> None:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    mon = setup_monitoring(app, settings(tmp_path, service_name="orders"))

    async def go() -> str:
        async with running(app) as client:
            await client.get("/orders/7")
            return (await client.get("/metrics")).text

    try:
        body = asyncio.run(go())
    finally:
        mon.close()
    samples = [s for f in text_string_to_metric_families(body) for s in f.samples]
    assert {s.labels.get("app") for s in samples} == {"orders"}
    assert any(s.labels.get("path") == "/orders/{order_id}" for s in samples)
    access = [
        line
        for line in read_lines(tmp_path / "logs" / "combined.log")
        if line["event"] == "request completed"
    ]
    assert [(line["service"], line["route"]) for line in access] == [
        ("orders", "/orders/{order_id}")
    ]


def test_alerts_switch_on_with_a_database_url_and_reach_the_running_app(tmp_path: Path) -> None:
    app = plain_app()
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    mon = setup_monitoring(
        app, settings(tmp_path, alert_database_url=url, alert_spool_dir=tmp_path / "spool")
    )
    assert mon.alerts is not None

    async def go() -> dict[str, Any] | None:
        async with running(app) as client:
            assert (await client.get("/boom")).status_code == 500
            return await asyncio.to_thread(
                monitoring_api.send_alert, "warning", "Disk", "93% on /data"
            )

    try:
        stored = asyncio.run(go())
        assert stored is not None
        assert stored["title"] == "Disk"
        titles = {a["title"] for a in mon.alerts.store.list_alerts()[0]}
        assert titles == {"Disk", "RuntimeError in /boom"}
        # Stopped: the module-level functions have no app to go to any more.
        assert monitoring_api.send_alert("warning", "late", "m") is None
        assert monitoring_api.capture_error(ValueError("late")) is None
    finally:
        mon.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("slack_webhook_url", "https://hooks.slack.com/services/T/B/x"),
        ("slack_token", "xoxb-1"),
        ("alertmanager_webhook_token", "hook"),
    ],
)
def test_a_part_that_needs_alerts_without_them_is_one_line_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Monitoring(settings(tmp_path, **{name: value}))
    assert str(raised.value).startswith(f"{name.upper()} is set but alerts are off")
    assert "ALERT_DATABASE_URL" in str(raised.value)
    assert value not in str(raised.value)


@pytest.mark.parametrize(
    ("values", "webhook", "admin"),
    [
        ({}, 404, 404),
        ({"alertmanager_webhook_token": "hook"}, 401, 404),
        ({"admin_token": "admin"}, 404, 401),
    ],
)
def test_the_webhook_and_the_admin_api_exist_only_with_their_token(
    tmp_path: Path, values: dict[str, str], webhook: int, admin: int
) -> None:
    app = plain_app()
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    mon = setup_monitoring(app, settings(tmp_path, alert_database_url=url, **values))

    async def go() -> tuple[int, int]:
        async with running(app) as client:
            hook = await client.post("/api/alertmanager/webhook", content=b"{}")
            listing = await client.get("/api/admin/alerts")
            return hook.status_code, listing.status_code

    try:
        assert asyncio.run(go()) == (webhook, admin)
    finally:
        mon.close()
