"""The whole alert chain on real processes: app errors → Prometheus (deploy/'s rules plus one
short-window test rule) → Alertmanager (deploy/'s routing) → the app's webhook → the alert store →
the outbox → the fake Slack; then the errors stop and the resolved message travels the same way.

deploy/'s own SLO rules need hours of data to stop firing, so the resolve half uses a test rule
with a 10 s window; the SLO page is still checked to arrive, since a 50% error ratio breaches the
availability objective within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.fakes.slack_server import FakeSlack
from tests.integration.e2e.support import (
    METRICS_TOKEN,
    WEBHOOK_TOKEN,
    api_token,
    app_settings,
    background_load,
)
from tests.integration.stack.harness import running_stack, wait_until
from tests.support.server import serve
from ykmake.cli.load_engine import LoadPlan
from ykmake.monitoring.alerts.store import AlertStore

pytestmark = pytest.mark.integration

RULE = "E2EErrorRatioHigh"
SUMMARY = "5xx above 10% over 10s"
# `for` 0s and a 10 s window: fires two scrapes into the errors, resolves ~10 s after them.
CHAIN_RULES = {
    "groups": [
        {
            "name": "e2e-alert-chain",
            "rules": [
                {
                    "alert": RULE,
                    "expr": (
                        'sum(rate(http_requests_total{job="ykmake",status_code=~"5.."}[10s]))\n'
                        '/ sum(rate(http_requests_total{job="ykmake"}[10s])) > 0.1\n'
                    ),
                    "for": "0s",
                    "labels": {"severity": "critical", "service": "ykmake"},
                    "annotations": {
                        "summary": SUMMARY,
                        "description": "The end-to-end test's short-window error alert.",
                    },
                }
            ],
        }
    ]
}
SLO_PAGE = "YkMakeAvailabilityErrorBudgetBurn"
WAIT = 30.0  # each hop below gives up after this; the test as a whole takes about 25 s


def header(message: dict[str, Any]) -> str:
    """The first line of a Slack message in the seed's layout: ``[SEVERITY] title``."""
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


def stored(store: AlertStore, name: str) -> dict[str, Any] | None:
    alerts, _total = store.list_alerts(source="alertmanager", limit=100)
    return next((a for a in alerts if a["title"].startswith(f"{name}:")), None)


def status_of(store: AlertStore, alert_id: int) -> str | None:
    alert = store.get_alert(alert_id)
    return None if alert is None else str(alert["status"])


def test_an_error_burst_alerts_in_slack_and_resolves_when_it_stops(
    app_factory: Callable[..., Any], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    rules = tmp_path / "chain_rules.yml"
    rules.write_text(yaml.safe_dump(CHAIN_RULES), encoding="utf-8")
    app = app_factory(**app_settings(fake_slack))
    store: AlertStore = app.state.monitoring.alerts.store
    token = api_token(app, "carol")
    with serve(app) as base:
        failing = LoadPlan(
            url=base, requests=5000, concurrency=2, duration=WAIT, rate=40, error_rate=0.5,
            token=token,
        )  # fmt: skip
        healthy = replace(failing, error_rate=0.0)
        with running_stack(
            tmp_path / "stack",
            app_port=urlsplit(base).port,
            metrics_token=METRICS_TOKEN,
            webhook_token=WEBHOOK_TOKEN,
            extra_rule_files=(rules,),
        ) as stack:
            with background_load(failing):
                fired = wait_until(lambda: stored(store, RULE), WAIT, 0.2)
                fired_at = time.monotonic()
                page = wait_until(lambda: stored(store, SLO_PAGE), WAIT, 0.2)
                in_alertmanager = stack.wait_for_alert(RULE, timeout=WAIT)
                wait_until(lambda: f"[CRITICAL] {RULE}: {SUMMARY}" in headers(fake_slack), WAIT)
            # The errors stop; ordinary traffic goes on, so the ratio falls to 0 (not 0/0).
            with background_load(healthy):
                wait_until(lambda: status_of(store, fired["id"]) == "resolved", WAIT, 0.2)
                resolved_at = time.monotonic()
                wait_until(lambda: f"[RESOLVED] {RULE}: {SUMMARY}" in headers(fake_slack), WAIT)

    # Stored once, from Alertmanager, with Alertmanager's fingerprint and the rule's labels.
    assert fired["source"] == "alertmanager"
    assert fired["severity"] == "critical"
    assert fired["title"] == f"{RULE}: {SUMMARY}"
    assert fired["fingerprint"] == "am:" + in_alertmanager["fingerprint"]
    assert fired["details"]["labels"]["service"] == "ykmake"
    # deploy/'s SLO page, generated from deploy/slo.yml, made the same trip.
    assert page["severity"] == "critical"
    assert page["details"]["labels"]["slo"] == "availability"
    assert f"[CRITICAL] {SLO_PAGE}: {page['title'].split(': ', 1)[1]}" in headers(fake_slack)
    # One firing and one resolved message for the test rule, in that order.
    ours = [h for h in headers(fake_slack) if RULE in h]
    assert ours == [f"[CRITICAL] {RULE}: {SUMMARY}", f"[RESOLVED] {RULE}: {SUMMARY}"]
    assert resolved_at - fired_at < WAIT


def headers(fake_slack: FakeSlack) -> list[str]:
    return [header(m) for m in fake_slack.messages]
