"""The dependency exporters for real: postgres_exporter on the machine's PostgreSQL,
redis_exporter on a Redis of the test's own, node_exporter on this host, scraped by Prometheus
with deploy/'s config; then that Redis stops and RedisDown travels Alertmanager → the app's
webhook → the fake Slack.

deploy/'s RedisDown waits 1 minute before it fires; the test loads the same rule with its
``for`` cut to 0 s (same expression, labels and annotations), so it fires two scrapes after the
stop instead.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.fakes.slack_server import FakeSlack
from tests.integration.e2e.support import (
    METRICS_TOKEN,
    WEBHOOK_TOKEN,
    app_settings,
    wait_for_data,
)
from tests.integration.e2e.test_alert_chain import headers, stored
from tests.integration.stack.harness import (
    free_port,
    port_refused,
    require_binaries,
    running_stack,
    wait_until,
)
from tests.support.server import serve
from ykmake.dashboards import DEPENDENCIES_UID, dashboard_files, panel_queries
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.stack import Dependencies, postgres_dependency, redis_dependency
from ykmake.stack.exporter_metrics import EXPORTER_METRICS

pytestmark = pytest.mark.integration

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WAIT = 20.0  # each hop gives up after this; the test as a whole takes about 10 s


def _redis_server() -> str:
    """redis-server's path; missing, it skips the test, or fails it when CI=true."""
    found = shutil.which("redis-server")
    if found is None:
        msg = "redis-server not found on PATH; install it with: apt-get install redis-server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have it: {msg}")
        pytest.skip(msg)
    return found


@dataclass(frozen=True)
class OwnRedis:
    process: subprocess.Popen[bytes]
    port: int


@contextmanager
def own_redis(data_dir: Path) -> Iterator[OwnRedis]:
    """A throwaway redis-server on a free loopback port, stopped (by its pid) on exit."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        _redis_server(), "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", str(data_dir),
        "--maxmemory", "64mb",  # a limit, as production has: the memory panel draws it
    ]  # fmt: skip
    with (data_dir / "redis.log").open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: not port_refused(port), 10.0, 0.05)
        yield OwnRedis(process, port)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fast_redis_down(deploy_rules: Path, target: Path) -> Path:
    """deploy/'s RedisDown with ``for`` cut to 0 s, in a rule file of its own."""
    groups = yaml.safe_load(deploy_rules.read_text(encoding="utf-8"))["groups"]
    rule = copy.deepcopy(
        next(r for g in groups for r in g["rules"] if r.get("alert") == "RedisDown")
    )
    rule["for"] = "0s"
    target.write_text(
        yaml.safe_dump({"groups": [{"name": "fast-redis-down", "rules": [rule]}]}),
        encoding="utf-8",
    )
    return target


def dependency_panel_queries() -> dict[str, str]:
    """ "panel title #n" -> expr, for every query of the dependencies dashboard."""
    dashboard = json.loads(dashboard_files()[f"{DEPENDENCIES_UID}.json"])
    return {f"{title} #{i}": expr for i, (title, expr) in enumerate(panel_queries(dashboard))}


def metric_names(url: str) -> set[str]:
    """The metric names an exporter's /metrics exposes right now."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_exporters_are_scraped_and_a_stopped_redis_alerts_in_slack(
    app_factory: Callable[..., Any], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    require_binaries("node-exporter", "postgres-exporter", "redis-exporter")
    app = app_factory(**app_settings(fake_slack))
    store: AlertStore = app.state.monitoring.alerts.store
    with own_redis(tmp_path / "redis") as redis, serve(app) as base:
        redis_url = f"redis://127.0.0.1:{redis.port}/0"
        dependencies = Dependencies(postgres_dependency(POSTGRES_URL), redis_dependency(redis_url))
        rules = fast_redis_down(
            Path(__file__).parents[3] / "deploy/prometheus/rules/dependencies.yml",
            tmp_path / "fast_redis_down.yml",
        )
        with running_stack(
            tmp_path / "stack",
            app_port=urlsplit(base).port,
            metrics_token=METRICS_TOKEN,
            webhook_token=WEBHOOK_TOKEN,
            extra_rule_files=(rules,),
            dependencies=dependencies,
            node_exporter=True,
        ) as stack:
            seen = wait_for_data(
                stack,
                {
                    "PostgreSQL answers": "pg_up == 1",
                    "Redis answers": "redis_up == 1",
                    "host memory": "node_memory_MemAvailable_bytes",
                    "postgres max_connections": "pg_settings_max_connections",
                },
                timeout=WAIT,
            )
            exposed = {job: metric_names(stack.rendered.url(job)) for job in EXPORTER_METRICS}
            # Every query of the dependencies dashboard draws something from these exporters.
            panels = wait_for_data(stack, dependency_panel_queries(), timeout=WAIT)
            assert stored(store, "RedisDown") is None

            stop(redis.process)
            in_alertmanager = stack.wait_for_alert("RedisDown", timeout=WAIT)
            fired = wait_until(lambda: stored(store, "RedisDown"), WAIT, 0.2)
            wait_until(lambda: any("RedisDown" in h for h in headers(fake_slack)), WAIT, 0.2)
            still_up = [series["value"][1] for series in stack.query("pg_up")]
            assert still_up == ["1"]  # PostgreSQL is still up: only Redis alerts

    assert set(panels) == set(dependency_panel_queries())
    # Every exporter metric a rule queries is one these exporter versions expose.
    for job, names in EXPORTER_METRICS.items():
        assert set(names) - exposed[job] == set(), job
    assert float(seen["postgres max_connections"][0]["value"][1]) > 0
    exporter = stack.rendered.url("redis-exporter").removeprefix("http://")
    assert in_alertmanager["labels"]["severity"] == "critical"
    assert in_alertmanager["labels"]["instance"] == exporter
    assert fired["source"] == "alertmanager"
    assert fired["title"] == f"RedisDown: Redis {exporter} is unreachable"
    assert "runbook" in fired["details"]["annotations"]
    assert f"[CRITICAL] RedisDown: Redis {exporter} is unreachable" in headers(fake_slack)
