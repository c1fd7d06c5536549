"""The real Prometheus scrapes the real app with deploy/'s configs: every metric the app exports
arrives, traffic moves each of them, and every dashboard panel and recording rule has data.

Traffic comes from ``ykmake load`` (the same code as the command): ordinary, authenticated,
failing and slow requests from two users, spread over the scrapes, so counters increase between
samples (a series first seen with its final value has a ``rate`` of 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.fakes.slack_server import FakeSlack
from tests.integration.e2e.support import (
    METRICS_TOKEN,
    api_token,
    app_settings,
    background_load,
    wait_for_data,
)
from tests.integration.stack.harness import running_stack
from tests.support.server import serve
from ykmake.cli.load_engine import LoadPlan
from ykmake.dashboards import OVERVIEW_UID, default_dashboards_dir, panel_queries
from ykmake.stack import default_deploy_dir, exported_series_names

pytestmark = pytest.mark.integration

# Bounds of the whole test: traffic stops at LOAD_SECONDS whatever happens; each wait below
# gives up after DATA_TIMEOUT with the list of queries that never had data.
LOAD_SECONDS = 45.0
DATA_TIMEOUT = 30.0
SLOW_MS = 600  # above the latency SLO's 500 ms threshold

# Each says "the traffic reached this metric": a value above zero, not only a series.
MOVES = {
    "2xx answers": 'sum(increase(http_requests_total{job="ykmake",status_code=~"2.."}[1m])) > 0',
    "201 from POST /api/products": (
        'sum(increase(http_requests_total{job="ykmake",method="POST",'
        'path="/api/products",status_code="201"}[1m])) > 0'
    ),
    "500 from /api/debug/error": (
        'sum(increase(http_requests_total{job="ykmake",path="/api/debug/error",'
        'status_code="500"}[1m])) > 0'
    ),
    "slow requests above 500 ms": (
        'sum(increase(http_request_duration_seconds_count{job="ykmake",path="/api/debug/slow"}[1m]))'
        ' - sum(increase(http_request_duration_seconds_bucket{job="ykmake",'
        'path="/api/debug/slow",le="0.5"}[1m])) > 0'
    ),
    "a request in progress during a scrape": (
        'max(max_over_time(http_requests_in_progress{job="ykmake"}[1m])) > 0'
    ),
    "both users active": 'active_users{job="ykmake"} >= 2',
    "INSERT INTO products timed": (
        'sum(increase(db_query_duration_seconds_count{job="ykmake",operation="INSERT",'
        'table="products"}[1m])) > 0'
    ),
    "DebugError captured": 'sum(increase(errors_total{job="ykmake",type="DebugError"}[1m])) > 0',
    "alert sent to Slack": 'ykmake_alert_notifications_total{job="ykmake",result="sent"} > 0',
    "CPU used": 'rate(process_cpu_seconds_total{job="ykmake"}[1m]) > 0',
    "event loop watched": 'count_over_time(event_loop_lag_seconds{job="ykmake"}[1m]) > 1',
    # The condition the Firing Alerts panel needs: 10% of requests fail, far above 14.4x the
    # availability SLO's 0.1% budget, and its page has no `for`.
    "SLO page firing": (
        'ALERTS{alertname="YkMakeAvailabilityErrorBudgetBurn",alertstate="firing",'
        'severity="critical"}'
    ),
}


def dashboard_queries(instance: str) -> dict[str, str]:
    """Every panel query of the committed overview dashboard, with its variables filled in.

    ``$instance`` is tried both as Grafana's "All" (the regex ``.*``) and as the one instance.
    """
    path = default_dashboards_dir() / f"{OVERVIEW_UID}.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    queries = {}
    for title, expr in panel_queries(dashboard):
        for label, value in (("All", ".*"), (instance, instance)):
            filled = expr.replace("$job", "ykmake").replace("$instance", value)
            queries[f"panel {title!r} [{label}] {expr}"] = filled
    return queries


def recorded_series() -> dict[str, str]:
    """A selector for the series of every recording rule Prometheus loaded from deploy/.

    Rules that share a name (the quantiles, one SLI per SLO) differ by their static labels.
    """
    selectors = {}
    for path in sorted((default_deploy_dir() / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "record" not in rule:
                    continue
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(rule.get("labels", {}).items()))
                selector = f"{rule['record']}{{{labels}}}"
                selectors[f"rule {selector} ({path.name})"] = selector
    return selectors


def test_prometheus_sees_every_metric_panel_and_recording_rule(
    app_factory: Callable[..., Any], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    app = app_factory(**app_settings(fake_slack))
    alice, bob = api_token(app, "alice"), api_token(app, "bob")
    with serve(app) as base:
        # Alice's requests mix in errors and slow ones; Bob's keep a second user active.
        mixed = LoadPlan(
            url=base,
            requests=20_000,
            concurrency=4,
            duration=LOAD_SECONDS,
            rate=60,
            error_rate=0.1,
            slow_rate=0.1,
            slow_ms=SLOW_MS,
            token=alice,
        )
        steady = LoadPlan(url=base, requests=1000, duration=LOAD_SECONDS, rate=4, token=bob)
        with (
            running_stack(
                tmp_path / "stack",
                app_port=urlsplit(base).port,
                alertmanager=False,
                metrics_token=METRICS_TOKEN,
            ) as stack,
            background_load(mixed) as mixed_stats,
            background_load(steady),
        ):
            (up,) = stack.wait_for_query('up{job="ykmake"} == 1', timeout=DATA_TIMEOUT)
            instance = up["metric"]["instance"]
            moved = wait_for_data(stack, MOVES, timeout=DATA_TIMEOUT)
            # After the moves: some series exist only once their first event happened.
            scraped = stack.query('group by (__name__) ({job="ykmake"})')
            panels = wait_for_data(stack, dashboard_queries(instance), timeout=DATA_TIMEOUT)
            recorded = wait_for_data(stack, recorded_series(), timeout=DATA_TIMEOUT)
            rules = httpx.get(f"{stack.prometheus_url}/api/v1/rules", timeout=10).json()

    # The target deploy/prometheus.yml names, scraped with the bearer token.
    assert instance == "ykmake-app-1"
    # Every series the app declares (the contract rules and dashboards are checked against).
    assert exported_series_names() <= {s["metric"]["__name__"] for s in scraped}
    assert len(moved) == len(MOVES)
    # Firing Alerts has rows because the traffic breaches the real availability SLO.
    firing = next(v for k, v in panels.items() if k.startswith("panel 'Firing Alerts'"))
    assert "YkMakeAvailabilityErrorBudgetBurn" in {a["metric"]["alertname"] for a in firing}
    assert recorded
    # Every rule, recording or alerting, evaluated without an error.
    unhealthy = [
        (rule["name"], rule.get("lastError"))
        for group in rules["data"]["groups"]
        for rule in group["rules"]
        if rule["health"] != "ok"
    ]
    assert unhealthy == []
    assert mixed_stats.outcomes[500] > 0
