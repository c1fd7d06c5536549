"""`ykmake stack up` as a user runs it: starts, prints the URLs, stops everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.stack.harness import free_port, port_refused, require_binaries, wait_until

pytestmark = pytest.mark.integration

# The stack sub-app on its own: the main CLI registers it as `ykmake stack`.
STACK = "from ykmake.stack.cli import stack_app; stack_app(prog_name='ykmake stack')"


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
    try:
        wait_until(lambda: _ready(f"http://127.0.0.1:{prometheus}/-/ready"), 60.0, 0.2)
        wait_until(lambda: _ready(f"http://127.0.0.1:{alertmanager}/-/ready"), 60.0, 0.2)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{prometheus}" in output
    assert f"http://127.0.0.1:{alertmanager}" in output
    assert "stopped." in output
    assert port_refused(prometheus)
    assert port_refused(alertmanager)
