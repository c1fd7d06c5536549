"""``ykmake serve`` as a user runs it: a real process, real exit codes, the line that says
where it listens, and the logs it leaves behind when it is stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integration.cli.support import clean_env, run_cli
from tests.support.server import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"YKMAKE_ENV": "prod"}, "YKMAKE_ENV"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DATABASE_URL": "oracle://db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "::not a url::"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "DATABASE_URL"),
        ({"TRUSTED_PROXIES": "300.1.1.1"}, "TRUSTED_PROXIES"),
        ({"SLACK_TIMEOUT_SECONDS": "-1"}, "SLACK_TIMEOUT_SECONDS"),
    ],
)
def test_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run_cli(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


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


def test_serve_runs_on_embedded_defaults(tmp_path: Path) -> None:
    with serving([], {}, tmp_path) as (_, port):
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    assert (tmp_path / "ykmake.db").exists()
    assert (tmp_path / "logs" / "combined.log").exists()


def _events(log: Path) -> list[str]:
    return [json.loads(line)["event"] for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("workers", "mode"), [(1, ""), (2, "2 workers; ")])
def test_serve_says_where_it_listens_and_its_shutdown_reaches_the_log(
    tmp_path: Path, workers: int, mode: str
) -> None:
    logs = tmp_path / "logs"
    # Production: the logs go to the files only, so the address line is all the terminal gets.
    env = {"YKMAKE_ENV": "production", "LOG_DIR": str(logs)}
    with serving(["--workers", str(workers)], env, tmp_path) as (process, port):
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then dies of the signal it caught (-15), as a server should;
        # its supervisor of several workers exits 0.
        assert process.wait(30) in (0, -signal.SIGTERM)
        assert process.stderr is not None
        said = process.stderr.read()

    assert said.splitlines() == [
        f"serving YkMake on http://127.0.0.1:{port} ({mode}logs in {logs})"
    ]
    events = _events(logs / "combined.log")
    # uvicorn's own last lines, written after the app's lifespan has ended.
    assert events.count("Application shutdown complete.") == workers
    finished = [e for e in events if e.startswith("Finished server process")]
    assert len(finished) == workers
    if workers > 1:  # the supervisor's lines too
        assert any(e.startswith("Stopping parent process") for e in events)
