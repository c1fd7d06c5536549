"""Prometheus and Alertmanager for tests: free loopback ports, rendered configs, always stopped.

Plain functions and a context manager (not fixtures), so any test can compose them::

    require_binaries("prometheus", "alertmanager")
    with serve(app) as url, running_stack(tmp_path, app_port=urlsplit(url).port,
                                          metrics_token="t") as stack:
        stack.wait_for_query('up{job="ykmake"} == 1')
        stack.wait_for_alert("YkMakeTargetDown")

Prometheus scrapes and evaluates every second and Alertmanager groups within a second, so a
test sees a scrape, a rule result or a notification in seconds. Every wait polls with a deadline.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import free_port, wait_until
from ykmake.stack import (
    Dependencies,
    MissingBinaryError,
    RenderedStack,
    RenderOptions,
    RunningService,
    ServiceSpec,
    StackPorts,
    StackSecrets,
    alertmanager_service,
    find_binary,
    node_exporter_service,
    postgres_exporter_service,
    prometheus_service,
    redis_exporter_service,
    render_stack,
    running_services,
)

__all__ = [
    "Stack",
    "free_port",
    "port_refused",
    "require_binaries",
    "running_stack",
    "wait_until",
]


def require_binaries(*tools: str) -> dict[str, Path]:
    """The tools' paths; a missing one skips the test, or fails it when CI=true."""
    found = {}
    for tool in tools:
        try:
            found[tool] = find_binary(tool)
        except MissingBinaryError as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must have it: {exc}")
            pytest.skip(str(exc))
    return found


def port_refused(port: int) -> bool:
    """True when nothing accepts connections on 127.0.0.1:``port`` (a stopped server)."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@dataclass(frozen=True)
class Stack:
    """A running test stack and helpers to query it."""

    rendered: RenderedStack
    services: tuple[RunningService, ...]

    @property
    def prometheus_url(self) -> str:
        return self.rendered.url("prometheus")

    @property
    def alertmanager_url(self) -> str:
        return self.rendered.url("alertmanager")

    def _get(self, url: str, **params: str) -> Any:
        response = httpx.get(url, params=params, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now (a list of {metric, value})."""
        body = self._get(f"{self.prometheus_url}/api/v1/query", query=expr)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for_query(self, expr: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll until ``expr`` returns at least one series."""
        result: list[dict[str, Any]] = wait_until(lambda: self.query(expr), timeout, 0.2)
        return result

    def targets(self) -> list[dict[str, Any]]:
        """Prometheus' active scrape targets (with ``health`` and ``lastError``)."""
        body = self._get(f"{self.prometheus_url}/api/v1/targets", state="active")
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets

    def rule_groups(self) -> list[str]:
        """Names of the rule groups Prometheus loaded."""
        body = self._get(f"{self.prometheus_url}/api/v1/rules")
        return [group["name"] for group in body["data"]["groups"]]

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (API v2)."""
        alerts: list[dict[str, Any]] = self._get(f"{self.alertmanager_url}/api/v2/alerts")
        return alerts

    def wait_for_alert(self, alertname: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Poll Alertmanager until an alert named ``alertname`` arrives; return it."""

        def arrived() -> dict[str, Any] | None:
            return next((a for a in self.alerts() if a["labels"]["alertname"] == alertname), None)

        alert: dict[str, Any] = wait_until(arrived, timeout, 0.2)
        return alert


def _exporter_specs(
    rendered: RenderedStack, dependencies: Dependencies, *, node_exporter: bool
) -> list[ServiceSpec]:
    """The exporters asked for; a missing binary skips the test (fails it under CI=true)."""
    specs = []
    if node_exporter:
        binary = require_binaries("node-exporter")["node-exporter"]
        specs.append(node_exporter_service(rendered, binary))
    if dependencies.postgres is not None:
        binary = require_binaries("postgres-exporter")["postgres-exporter"]
        specs.append(postgres_exporter_service(rendered, binary))
    if dependencies.redis is not None:
        binary = require_binaries("redis-exporter")["redis-exporter"]
        specs.append(redis_exporter_service(rendered, binary, dependencies.redis))
    return specs


@contextmanager
def running_stack(
    data_dir: Path,
    *,
    app_port: int | None = None,
    alertmanager: bool = True,
    metrics_token: str | None = None,
    webhook_token: str | None = None,
    slack_webhook_url: str | None = None,
    extra_rule_files: tuple[Path, ...] = (),
    interval: str = "1s",
    ready_timeout: float = 30.0,
    dependencies: Dependencies | None = None,
    node_exporter: bool = False,
) -> Iterator[Stack]:
    """Start Prometheus (and Alertmanager) with deploy/ rendered for loopback under ``data_dir``.

    ``app_port`` is where the app's /metrics and webhook are (default: a free port nobody
    listens on, so the ykmake target is down). Both processes are stopped on exit, whatever
    happens; a process that fails to start fails the test with its log's tail.
    ``dependencies`` and ``node_exporter`` start those exporters too, scraped like deploy/ says.
    """
    binaries = require_binaries("prometheus", *(("alertmanager",) if alertmanager else ()))
    ports = StackPorts(
        prometheus=free_port(),
        alertmanager=free_port(),
        grafana=free_port(),
        node_exporter=free_port(),
        app=app_port or free_port(),
        postgres_exporter=free_port(),
        redis_exporter=free_port(),
    )
    rendered = render_stack(
        data_dir,
        ports=ports,
        secrets=StackSecrets(metrics_token, webhook_token, slack_webhook_url),
        options=RenderOptions(
            scrape_interval=interval,
            evaluation_interval=interval,
            node_exporter=node_exporter,
            extra_rule_files=extra_rule_files,
            group_wait=interval,
            group_interval=interval,
            repeat_interval="1h",
        ),
        dependencies=dependencies,
    )
    # Prometheus sends a firing alert again only after resend-delay (1m): an alert that fires
    # before it has discovered Alertmanager would otherwise arrive a minute late.
    resend = (f"--rules.alert.resend-delay={interval}",)
    specs = _exporter_specs(rendered, dependencies or Dependencies(), node_exporter=node_exporter)
    if alertmanager:
        specs.append(alertmanager_service(rendered, binaries["alertmanager"]))
    specs.append(prometheus_service(rendered, binaries["prometheus"], extra_args=resend))
    with running_services(specs, ready_timeout=ready_timeout) as services:
        yield Stack(rendered, tuple(services))
