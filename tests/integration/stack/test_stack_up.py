"""`ykmake stack up` as a user runs it: starts, prints the URLs, stops everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

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


def test_up_serves_until_ctrl_c_then_stops_everything(tmp_path: Path) -> None:
    require_binaries("prometheus", "alertmanager")
    prometheus, alertmanager = free_port(), free_port()
    argv = [
        sys.executable, "-c", STACK, "up",
        "--data-dir", str(tmp_path / "stack"),
        "--prometheus-port", str(prometheus),
        "--alertmanager-port", str(alertmanager),
        "--app-port", str(free_port()),
        "--no-grafana", "--no-node-exporter",
    ]  # fmt: skip
    # Settings come from the environment: run where no .env or tokens leak in.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process, lines), daemon=True)
    reader.start()
    try:
        # Up once it says so: every service (the app too) answered its readiness check.
        wait_until(lambda: any("Ctrl-C stops everything" in line for line in lines), 120.0, 0.2)
        assert _ready(f"http://127.0.0.1:{prometheus}/-/ready")
        assert _ready(f"http://127.0.0.1:{alertmanager}/-/ready")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()

    output = "".join(lines)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{prometheus}" in output
    assert f"http://127.0.0.1:{alertmanager}" in output
    assert "stopped." in output
    assert port_refused(prometheus)
    assert port_refused(alertmanager)
