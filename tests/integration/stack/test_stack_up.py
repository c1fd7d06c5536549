"""`ykmake stack up` as a user runs it: starts, prints the URLs, stops everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.stack.fake_app import fake_app
from tests.integration.stack.harness import free_port, port_refused, require_binaries, wait_until

pytestmark = pytest.mark.integration

# The stack sub-app on its own: the main CLI registers it as `ykmake stack`.
STACK = "from ykmake.cli.stack import stack_app; stack_app(prog_name='ykmake stack')"


def _collect(process: subprocess.Popen[str], lines: list[str]) -> None:
    """Every line the process prints, as it prints it."""
    assert process.stdout is not None
    lines.extend(iter(process.stdout.readline, ""))


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == httpx.codes.OK
    except httpx.TransportError:
        return False


def _run_up(
    tmp_path: Path,
    ports: list[str],
    env: dict[str, str],
    while_up: Callable[[], None],
    *,
    up_line: str = "Ctrl-C stops everything",
) -> tuple[int, str]:
    """Run `stack up` with ``ports`` flags until it prints ``up_line``, call ``while_up``,
    then Ctrl-C it."""
    argv = [
        sys.executable, "-c", STACK, "up",
        "--data-dir", str(tmp_path / "stack"),
        "--app-port", str(free_port()),
        "--no-grafana", "--no-node-exporter",
        *ports,
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process, lines), daemon=True)
    reader.start()
    try:
        # Up once it says so: every service (the app too) answered its readiness check.
        wait_until(lambda: any(up_line in line for line in lines), 120.0, 0.2)
        while_up()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    return process.returncode, "".join(lines)


def _clean_env(**settings: str) -> dict[str, str]:
    """Our environment without tokens or dependencies (no .env leaks in), plus ``settings``."""
    dropped = ("DATABASE_URL", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN") and k not in dropped}
    return {**env, **settings}


def test_up_serves_until_ctrl_c_then_stops_everything(tmp_path: Path) -> None:
    require_binaries("prometheus", "alertmanager")
    prometheus, alertmanager = free_port(), free_port()

    def while_up() -> None:
        assert _ready(f"http://127.0.0.1:{prometheus}/-/ready")
        assert _ready(f"http://127.0.0.1:{alertmanager}/-/ready")

    flags = ["--prometheus-port", str(prometheus), "--alertmanager-port", str(alertmanager)]
    code, output = _run_up(tmp_path, flags, _clean_env(), while_up)

    assert code == 0, output
    assert f"http://127.0.0.1:{prometheus}" in output
    assert f"http://127.0.0.1:{alertmanager}" in output
    # SQLite and no Redis: nothing for those exporters to watch, and it says so in one line.
    assert "postgres-exporter: skipped, DATABASE_URL is not PostgreSQL" in output
    assert "redis-exporter: skipped, REDIS_URL is not set" in output
    assert "stopped." in output
    assert port_refused(prometheus)
    assert port_refused(alertmanager)


def test_up_watches_postgresql_and_redis_from_their_urls(tmp_path: Path) -> None:
    require_binaries("prometheus", "alertmanager", "postgres-exporter", "redis-exporter")
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "postgres", "redis")}
    env = _clean_env(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )

    def while_up() -> None:
        for exporter, up in (("postgres", "pg_up 1"), ("redis", "redis_up 1")):
            metrics = httpx.get(f"http://127.0.0.1:{ports[exporter]}/metrics", timeout=10.0)
            assert up in metrics.text.splitlines(), exporter

    flags = [
        "--prometheus-port", str(ports["prometheus"]),
        "--alertmanager-port", str(ports["alertmanager"]),
        "--postgres-exporter-port", str(ports["postgres"]),
        "--redis-exporter-port", str(ports["redis"]),
    ]  # fmt: skip
    code, output = _run_up(tmp_path, flags, env, while_up)

    assert code == 0, output
    assert "skipped" not in output
    assert f"http://127.0.0.1:{ports['postgres']}" in output
    assert f"http://127.0.0.1:{ports['redis']}" in output
    assert all(port_refused(port) for port in ports.values())


def test_up_reports_each_targets_first_scrape_and_an_unshared_token(tmp_path: Path) -> None:
    """The processes all start, but Prometheus gets 401 from the app: `stack up` says so, and
    which setting to share, instead of a success table alone."""
    require_binaries("prometheus", "alertmanager")
    flags = ["--prometheus-port", str(free_port()), "--alertmanager-port", str(free_port())]
    with fake_app("the-apps-token") as app:
        flags += ["--app-port", str(app.port)]
        env = _clean_env(METRICS_TOKEN="not-the-apps-token")
        code, output = _run_up(tmp_path, flags, env, lambda: None, up_line="METRICS_TOKEN")
    assert code == 0, output
    assert "First scrapes" in output
    report = output[output.index("First scrapes") :]
    assert "prometheus" in report
    assert "401" in report
    assert "ykmake: the app refuses Prometheus' token" in report
