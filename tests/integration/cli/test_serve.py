"""``ykmake serve`` as a user runs it: a real process, real exit codes, the line that says
where it listens, and the logs it leaves behind when it is stopped."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.cli.support import run_cli, serving
from tests.support.server import free_port

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
        ({"SENTRY_DSN": "garbage"}, "SENTRY_DSN"),
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


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_bad_sentry_dsn_is_named_but_never_shown(tmp_path: Path) -> None:
    env = {"SENTRY_DSN": "https://s3cret-key.example/not-a-project"}
    said = _one_line(run_cli(["serve", "--port", str(free_port())], env, tmp_path))
    assert said.startswith("error: SENTRY_DSN=*** is invalid: expected a Sentry DSN")
    assert "s3cret" not in said


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_log_dir_that_cannot_be_written_is_one_line(tmp_path: Path, workers: str) -> None:
    (tmp_path / "a-file").write_text("")
    env = {"LOG_DIR": str(tmp_path / "a-file" / "logs")}
    args = ["serve", "--port", str(free_port()), "--workers", workers]
    said = _one_line(run_cli(args, env, tmp_path))
    assert said.startswith(f"error: LOG_DIR='{tmp_path}/a-file/logs' cannot hold the log files")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_line_naming_the_port(tmp_path: Path, workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["serve", "--port", str(port), "--workers", workers], {}, tmp_path)
    said = _one_line(result)
    assert said == (
        f"error: --port {port}: 127.0.0.1:{port} is in use; stop what listens there or pick another"
    )
    assert not (tmp_path / "ykmake.db").exists()  # refused before anything started


@pytest.mark.parametrize("environment", ["development", "test"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])  # noqa: S104 - never bound
def test_a_network_bind_outside_production_is_refused(
    tmp_path: Path, environment: str, host: str
) -> None:
    env = {"YKMAKE_ENV": environment}
    said = _one_line(run_cli(["serve", "--host", host, "--port", str(free_port())], env, tmp_path))
    assert said.startswith(f"error: --host {host} is not a loopback address")
    assert "set YKMAKE_ENV=production" in said
    assert not (tmp_path / "ykmake.db").exists()


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
