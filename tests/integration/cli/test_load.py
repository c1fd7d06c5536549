"""``ykmake load`` against the app served on loopback: once as a real process, the rest in
process (CliRunner, through the ``ykmake`` app); the app's own metrics count what was sent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.support.server import free_port, serve
from ykmake.app.users import create_user
from ykmake.cli import app as cli

pytestmark = pytest.mark.integration


def run_load(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # COLUMNS: rich wraps at the terminal's width, and a subprocess has none.
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "ykmake", "load", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_in_process(*args: str) -> Result:
    return CliRunner().invoke(cli, ["load", *args])


def api_token(app: Any, name: str) -> str:
    with app.state.sessions() as session:
        _user, token = create_user(session, name)
    return token


def requests_seen(app: Any, path: str, status: str) -> float:
    registry = app.state.monitoring.metrics.registry
    labels = {"method": "GET", "path": path, "status_code": status}
    return float(registry.get_sample_value("http_requests_total", labels) or 0)


def test_a_bounded_run_with_errors_slow_and_authenticated_requests(
    app_factory: Callable[..., Any], tmp_path: Path
) -> None:
    app = app_factory()
    token = api_token(app, "loader")
    with serve(app) as base:
        done = run_load(
            "--url", base, "--requests", "80", "--concurrency", "4",
            "--error-rate", "0.25", "--slow-rate", "0.1", "--slow-ms", "50", "--token", token,
            cwd=tmp_path,
        )  # fmt: skip
        errors = requests_seen(app, "/api/debug/error", "500")
        slow = requests_seen(app, "/api/debug/slow", "200")

    assert done.returncode == 0, done.stderr
    assert f"80 requests to {base}" in done.stdout
    summary = {
        line.split("│")[1].strip(): int(line.split("│")[2])
        for line in done.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip().isdigit()
    }
    assert sum(summary.values()) == 80
    assert summary["500"] == errors
    assert 18 <= errors <= 22  # a quarter of 80, spread evenly
    assert slow >= 7  # a tenth, plus the probe of the debug routes
    assert {"200", "201", "500"} <= set(summary)
    assert "p95" in done.stdout
    assert token not in done.stdout + done.stderr


def test_the_duration_stops_a_long_run(app_factory: Callable[..., Any]) -> None:
    app = app_factory()
    with serve(app) as base:
        began = time.monotonic()
        done = load_in_process(
            "--url", base, "--requests", "100000", "--duration", "1", "--rate", "20"
        )  # fmt: skip
        took = time.monotonic() - began

    assert done.exit_code == 0, done.output
    sent = int(done.stdout.split(" requests to ")[0].split()[-1])
    assert 10 <= sent <= 21  # 20/s for one second
    assert took < 15


def test_a_service_without_debug_routes_is_refused_before_sending(
    app_factory: Callable[..., Any],
) -> None:
    app = app_factory(ykmake_env="production")
    with serve(app) as base:
        done = load_in_process("--url", base, "--error-rate", "0.1")
    assert done.exit_code == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {base} has no /api/debug routes (YKMAKE_ENV=production?); "
        "run without --error-rate and --slow-rate"
    ]


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("http://192.168.1.10:8000", 2, "error: --url host '192.168.1.10' is not loopback"),
        ("http://example.com", 2, "error: --url host 'example.com' is not loopback"),
        ("http://127.0.0.1:{free}", 1, "error: nothing answers at http://127.0.0.1:{free}"),
    ],
)
def test_refusals_are_one_line(url: str, code: int, says: str) -> None:
    free = str(free_port())
    done = load_in_process("--url", url.format(free=free), "--requests", "5")
    assert done.exit_code == code
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(says.format(free=free))
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.stdout == ""
