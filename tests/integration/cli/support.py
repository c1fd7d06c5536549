"""Run ``ykmake`` as a user does: a real process, with only the settings a test gives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.server import free_port, wait_until
from ykmake.settings import Settings

__all__ = ["SETTINGS_VARS", "clean_env", "run_cli", "serving"]


# Every variable the settings read (YKMAKE_ENV for `environment`), so the machine's
# environment cannot leak into a test.
SETTINGS_VARS = frozenset(Settings.variable_names())


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env.update(values)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m ykmake ARGS`` in ``cwd`` with the settings in ``env`` alone."""
    return subprocess.run(
        [sys.executable, "-m", "ykmake", *args],
        env=clean_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def serving(
    args: list[str], env: dict[str, str], cwd: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``ykmake serve ARGS`` on a free port until /health answers; stopped (SIGTERM) after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ykmake", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=clean_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # stop waiting if it died

    try:
        wait_until(healthy, timeout=30, interval=0.1)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield process, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # only the process this test started
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()
