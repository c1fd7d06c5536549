"""The ``ykmake`` command as a user runs it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port, wait_until

pytestmark = pytest.mark.integration


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ykmake", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


_SETTINGS_VARS = {"YKMAKE_ENV", "DATABASE_URL", "LOG_LEVEL", "LOG_DIR", "REDIS_URL"}


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


def test_users_create_prints_the_token_once_and_stores_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "LOG_DIR": str(tmp_path / "logs")}
    result = run_cli(["users", "create", "alice", "--admin"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ykm_")
    assert token.encode() not in db.read_bytes()
    again = run_cli(["users", "create", "alice"], env, tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_serve_runs_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ykmake", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None  # stop waiting if it died

        wait_until(healthy, timeout=30, interval=0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert (tmp_path / "ykmake.db").exists()
    assert (tmp_path / "logs" / "combined.log").exists()
