"""Planted secrets never leave: not through a log file, the console, the alert tables, Sentry,
Slack, the admin API or ``ykmake alerts``.

The service runs in development (console on, slack_sdk's DEBUG lines on) under uvicorn, with
Slack and Sentry on the local fakes. Secrets are planted in its settings, in request headers
and bodies, in Alertmanager labels and annotations, in ``send_alert`` and in an exception's
message; every path that writes somewhere is driven; then every sink is read back and must
hold none of them. A few positive checks show each path really ran (and masked).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from rich.console import Console
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.fakes.sentry_server import FakeSentry
from tests.fakes.slack_server import FakeSlack
from tests.integration.cli.support import SETTINGS_VARS
from tests.support.alerts import build_alert_path, deliver_until
from tests.support.logs import access_lines, read_lines
from tests.support.server import serve, wait_until
from ykmake.app.users import create_user
from ykmake.cli import alerts as alerts_cli
from ykmake.cli import app as cli_app
from ykmake.monitoring.alerts.admin_api import ADMIN_ALERTS_PATH
from ykmake.monitoring.alerts.alertmanager import WEBHOOK_PATH
from ykmake.monitoring.logs.redaction import Redactor

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sentry_cleanup")]

REDACTED = "[REDACTED]"

# -- what is planted ----------------------------------------------------------------------
# Settings (each masked as a configured secret, whatever its shape).
SLACK_TOKEN = "xoxb-pl4nted-slack-7c1d"
HOOK_PATH = "/services/TPL4NT/BPL4NT/pl4nted-hook-7c1d"
SENTRY_KEY = "pl4ntedsentrykey7c1d"
METRICS_TOKEN = "pl4nted-metrics-7c1d"
ADMIN_TOKEN = "pl4nted-admin-7c1d"
AM_TOKEN = "pl4nted-alertmanager-7c1d"
SESSION_SECRET = "pl4nted-session-7c1d"
DB_PASSWORD = "pl4nted-dbpw-7c1d"  # PostgreSQL only (trust auth ignores it); SQLite has none
# Requests: headers and bodies.
BEARER = "pl4ntedBearer7c1dQ"
COOKIE = "pl4nted-cookie-7c1d"
API_KEY = "pl4nted-apikey-7c1d"
AGENT_KEY = "pl4nted-agent-7c1d"
REQUEST_ID_TOKEN = "pl4nted-rid-7c1d"
PRODUCT_PASSWORD = "pl4nted-product-7c1d"
PRODUCT_TOKEN = "pl4nted-description-7c1d"
JSON_PASSWORD = "pl4nted-jsonfield-7c1d"
# An exception's message: a body's password field and a database URL's password.
BODY_PASSWORD = "pl4nted-body-7c1d"
URL_PASSWORD = "pl4nted-urlpw-7c1d"
# send_alert, and the Alertmanager webhook's labels and annotations.
ALERT_TOKEN = "pl4nted-alerttoken-7c1d"
ALERT_BEARER = "pl4ntedAlertBearer7c1dQ"
ALERT_PASSWORD = "pl4nted-alertpw-7c1d"
LABEL_PASSWORD = "pl4nted-label-7c1d"
ANNOTATION_DSN_KEY = "pl4ntedannotationkey7c1d"

PLANTED = [
    SLACK_TOKEN,
    HOOK_PATH,
    SENTRY_KEY,
    METRICS_TOKEN,
    ADMIN_TOKEN,
    AM_TOKEN,
    SESSION_SECRET,
    DB_PASSWORD,
    BEARER,
    COOKIE,
    API_KEY,
    AGENT_KEY,
    REQUEST_ID_TOKEN,
    PRODUCT_PASSWORD,
    PRODUCT_TOKEN,
    JSON_PASSWORD,
    BODY_PASSWORD,
    URL_PASSWORD,
    ALERT_TOKEN,
    ALERT_BEARER,
    ALERT_PASSWORD,
    LABEL_PASSWORD,
    ANNOTATION_DSN_KEY,
]


class PlantedSlack(FakeSlack):
    """The fake Slack, its incoming webhook at a planted path (a webhook URL is the secret)."""

    webhook_path = HOOK_PATH


@dataclass
class Sinks:
    """Everything a sink received, by sink."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, sink: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        self.texts[sink] = self.texts.get(sink, "") + "\n" + text

    def leaks(self, planted: list[str]) -> list[tuple[str, str]]:
        return [
            (sink, secret)
            for sink, text in self.texts.items()
            for secret in planted
            # A wrapped line must not hide a secret: also look across line breaks.
            if secret in text or secret in text.replace("\n", "")
        ]


@pytest.fixture(params=["webhook", "web-api"])
def slack_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with PlantedSlack() as fake:
        yield fake


def with_password(database_url: str) -> str:
    if database_url.startswith("postgresql://postgres@"):
        return database_url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@", 1)
    return database_url


def planted_settings(
    database_url: str, slack_mode: str, fake_slack: FakeSlack, fake_sentry: FakeSentry
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "ykmake_env": "development",
        "database_url": database_url,
        "slack_webhook_url": fake_slack.origin + HOOK_PATH,
        "slack_token": SLACK_TOKEN,
        "slack_api_url": fake_slack.base_url,
        "sentry_dsn": f"http://{SENTRY_KEY}@127.0.0.1:{fake_sentry.port}/{fake_sentry.project_id}",
        "metrics_token": METRICS_TOKEN,
        "admin_token": ADMIN_TOKEN,
        "alertmanager_webhook_token": AM_TOKEN,
        "session_secret": SESSION_SECRET,
        "alert_worker_interval_seconds": 0.05,
    }
    if slack_mode == "web-api":
        settings["slack_channel"] = "#alerts"  # token + channel: the Web API wins
    return settings


async def explode(request: Request) -> None:
    """A handler that fails with secrets in its message, as careless code does."""
    body = await request.json()
    settings = request.app.state.settings
    session_secret = settings.session_secret.get_secret_value()
    message = (
        f"could not store {body!r} in {settings.database_url} "
        f"(nor in postgresql://app:{URL_PASSWORD}@replica.internal/app); "
        f"session signed with {session_secret}"
    )
    raise RuntimeError(message)


def am_payload() -> dict[str, Any]:
    labels = {"alertname": "LeakyLabels", "severity": "critical", "password": LABEL_PASSWORD}
    annotations = {
        "summary": "Sentry unreachable",
        "description": f"DSN https://{ANNOTATION_DSN_KEY}@o1.ingest.sentry.io/42 refused us",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": "2024-05-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "aaaa0000planted1",
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="LeakyLabels", password="{LABEL_PASSWORD}"}}',
        "status": "firing",
        "receiver": "ykmake-webhook",
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }


def drive_requests(client: httpx.Client, user_token: str) -> None:
    """Every request path that writes somewhere, with secrets in headers and bodies."""
    # Headers: credentials, a cookie, an API key, a user agent and request ids.
    headers = {
        "Authorization": f"Bearer {BEARER}",
        "Cookie": f"session={COOKIE}",
        "X-Api-Key": API_KEY,
        "User-Agent": f"probe/1.0 api_key={AGENT_KEY}",
        "X-Request-ID": ADMIN_TOKEN,  # a configured secret
    }
    answered = client.get("/health", headers=headers)
    assert answered.headers["x-request-id"] != ADMIN_TOKEN  # replaced by a fresh id
    shaped = {"User-Agent": METRICS_TOKEN, "X-Request-ID": f"token={REQUEST_ID_TOKEN}"}
    listed = client.get("/api/products", headers=shaped)
    assert REQUEST_ID_TOKEN not in listed.headers["x-request-id"]
    # Bodies: a product whose text carries secret-shaped pairs, and a JSON password field.
    product = {
        "name": f"Widget password={PRODUCT_PASSWORD}",
        "description": f"call me: token={PRODUCT_TOKEN}",
        "price_cents": 100,
    }
    auth = {"Authorization": f"Bearer {user_token}"}
    assert client.post("/api/products", json=product, headers=auth).status_code == 201
    extra = {"name": "x", "price_cents": 1, "password": JSON_PASSWORD}
    assert client.post("/api/products", json=extra, headers=auth).status_code == 422
    # An exception with secrets in its message: error line, Sentry, an alert, Slack.
    body = {"user": "kim", "password": BODY_PASSWORD}
    assert client.post("/api/test/explode", json=body, headers=headers).status_code == 500
    # The Alertmanager webhook and /metrics, with their tokens.
    hook = client.post(
        WEBHOOK_PATH, json=am_payload(), headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert hook.status_code == 200, hook.text
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200


def send_planted_alert(app: FastAPI, database_url: str) -> None:
    app.state.monitoring.send_alert(
        "critical",
        f"Database down: {with_password(database_url)} and postgresql://app:{URL_PASSWORD}@x/y",
        f"retry with token={ALERT_TOKEN}, Authorization: Bearer {ALERT_BEARER}",
        {"password": ALERT_PASSWORD, "seen": f"slack token {SLACK_TOKEN}", "ok": "kept"},
    )


def read_admin_api(client: httpx.Client, sinks: Sinks) -> list[int]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    listed = client.get(ADMIN_ALERTS_PATH, headers=admin)
    assert listed.status_code == 200
    sinks.add("admin API", listed.text)
    ids = [int(item["id"]) for item in listed.json()["items"]]
    for alert_id in ids:
        shown = client.get(f"{ADMIN_ALERTS_PATH}/{alert_id}", headers=admin)
        sinks.add("admin API", shown.text)
    return ids


def read_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, ids: list[int]
) -> str:
    """``ykmake alerts list`` and ``show ID`` as an operator runs them, on the same database."""
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    env = {
        "DATABASE_URL": database_url,
        "LOG_DIR": str(tmp_path / "logs"),
        "ALERT_SPOOL_DIR": str(tmp_path / "spool"),
        "YKMAKE_ENV": "development",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Wide enough that no cell wraps or is cut: a secret split over two lines is still a leak.
    monkeypatch.setattr(alerts_cli, "console", Console(width=100_000))
    runner = CliRunner()
    outputs = []
    for args in (["list"], *(["show", str(alert_id)] for alert_id in ids)):
        result = runner.invoke(cli_app, ["alerts", *args])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return "\n".join(outputs)


def read_database(database_url: str, sinks: Sinks) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            alerts = [dict(row) for row in conn.execute(text("SELECT * FROM alerts")).mappings()]
            notifications = conn.execute(text("SELECT * FROM alert_notifications")).mappings()
            sinks.add("alert table", alerts)
            sinks.add("notification table", [dict(row) for row in notifications])
    finally:
        engine.dispose()
    return alerts


def read_sentry(fake_sentry: FakeSentry, sinks: Sinks) -> None:
    for envelope in fake_sentry.envelopes:
        headers = dict(envelope.headers)
        # The DSN's key is how the SDK authenticates to Sentry itself (the X-Sentry-Auth
        # header, and the trace header's public_key): Sentry must see it, nobody else.
        trace = dict(headers.get("trace") or {})
        if trace.get("public_key") == SENTRY_KEY:
            headers["trace"] = trace | {"public_key": "(the DSN's key, for Sentry itself)"}
        sinks.add("Sentry envelope", [headers, [item.payload for item in envelope.items]])


def read_slack(fake_slack: FakeSlack, sinks: Sinks) -> None:
    # Bodies only: the token (Web API) and the webhook path are how Slack knows us.
    for request in fake_slack.requests:
        sinks.add("Slack body", request.raw.decode("utf-8", "replace"))


def read_files(directory: Path, sink: str, sinks: Sinks) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            sinks.add(f"{sink} {path.name}", path.read_text(encoding="utf-8", errors="replace"))


def check_each_path_ran_and_masked(
    log_dir: Path, alerts: list[dict[str, Any]], fake_sentry: FakeSentry, slack_mode: str
) -> None:
    lines = read_lines(log_dir / "combined.log")
    agents = {line["user_agent"] for line in access_lines(log_dir)}
    assert {"probe/1.0 api_key=[REDACTED]", REDACTED} <= agents
    (error,) = [
        ln for ln in read_lines(log_dir / "error.log") if "RuntimeError" in ln.get("exception", "")
    ]
    assert f"'password': '{REDACTED}'" in error["exception"]
    sent = [ln["event"] for ln in lines if ln["event"].startswith("Sending a request - url:")]
    assert sent, "slack_sdk's DEBUG line was not written"
    if slack_mode == "webhook":
        assert all(event.startswith(f"Sending a request - url: {REDACTED}") for event in sent)
    assert {a["source"] for a in alerts} == {"app", "error", "alertmanager"}
    assert all(REDACTED in a["message"] or REDACTED in str(a["details"]) for a in alerts)
    (event,) = fake_sentry.events
    assert REDACTED in event["exception"]["values"][-1]["value"]


def test_no_planted_secret_reaches_any_sink(
    app_factory: Callable[..., Any],
    database_url: str,
    slack_mode: str,
    fake_slack: FakeSlack,
    fake_sentry: FakeSentry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    database_url = with_password(database_url)
    app = app_factory(**planted_settings(database_url, slack_mode, fake_slack, fake_sentry))
    app.add_api_route("/api/test/explode", explode, methods=["POST"])
    mon = app.state.monitoring
    with app.state.sessions() as session:
        _, user_token = create_user(session, "kim")
    sinks = Sinks()
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        drive_requests(client, user_token)
        send_planted_alert(app, database_url)
        wait_until(lambda: len(fake_slack.messages) >= 3, timeout=20)
        wait_until(lambda: mon.alerts.store.pending_count() == 0, timeout=20)
        fake_sentry.wait_for_events(1, timeout=10)
        ids = read_admin_api(client, sinks)
    sinks.add("ykmake alerts", read_cli(monkeypatch, tmp_path, database_url, ids))
    alerts = read_database(database_url, sinks)
    mon.logging.close()  # every queued line on disk
    read_files(tmp_path / "logs", "log file", sinks)
    read_files(tmp_path / "spool", "spool file", sinks)
    read_sentry(fake_sentry, sinks)
    read_slack(fake_slack, sinks)
    console = capfd.readouterr()
    sinks.add("console", console.err + console.out)
    # The user's API token too: it is only ever sent in a header.
    leaks = sinks.leaks([*PLANTED, user_token])
    assert not leaks, "\n".join(f"{secret} reached {sink}" for sink, secret in leaks)
    check_each_path_ran_and_masked(tmp_path / "logs", alerts, fake_sentry, slack_mode)


def test_an_alert_spooled_while_the_database_is_down_keeps_no_secret(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    path = build_alert_path(database_url, tmp_path, fake_slack)
    path.service.redactor = Redactor(secrets=[SESSION_SECRET])
    sinks = Sinks()
    try:
        path.outage.go_down()
        stored = path.service.send_alert(
            "critical",
            f"database down: postgresql://app:{URL_PASSWORD}@db/app",
            f"session signed with {SESSION_SECRET}",
            {"password": ALERT_PASSWORD, "note": f"retry with token={ALERT_TOKEN}"},
        )
        assert stored is None  # in the journal
        assert path.deliver().sent == 1  # as the seed does: Slack told straight from it
        read_files(tmp_path / "spool", "spool file", sinks)
        path.outage.come_back()
        deliver_until(path, lambda: len(path.service.spool) == 0)
        sinks.add("alert table", path.store.list_alerts()[0])
        read_slack(fake_slack, sinks)
    finally:
        path.close()
    read_files(tmp_path, "file", sinks)  # the logs, the spool, a SQLite database's bytes
    leaks = sinks.leaks(PLANTED)
    assert not leaks, "\n".join(f"{secret} reached {sink}" for sink, secret in leaks)
    spooled = "".join(text for sink, text in sinks.texts.items() if sink.startswith("spool"))
    assert f'"password": "{REDACTED}"' in spooled
