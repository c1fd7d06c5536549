"""Apps in processes of their own, to kill and restart; a database to take away and give back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text

from tests.fakes.slack_server import FakeSlack
from tests.support.server import free_port, wait_until
from tests.support.services import PG_ADMIN_URL
from ykmake.monitoring.alerts.database import normalize_url
from ykmake.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
_SETTINGS = frozenset(name.upper() for name in Settings.variable_names())


def app_env(**values: object) -> dict[str, str]:
    """This environment without any setting of ours, plus ``values`` (upper-cased names)."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTINGS}
    env.update({k.upper(): str(v) for k, v in values.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


def slack_env(slack: FakeSlack) -> dict[str, str]:
    return {"SLACK_TOKEN": "xoxb-test", "SLACK_CHANNEL": "#alerts", "SLACK_API_URL": slack.base_url}


@dataclass
class App:
    process: subprocess.Popen[bytes]
    base: str

    def kill_9(self) -> None:
        """SIGKILL to the process this test started, and reap it."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (a graceful stop) if it still runs; SIGKILL if that hangs."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def running_app(
    module: str, env: dict[str, str], cwd: Path, output: Path, *, workers: int = 1
) -> Iterator[App]:
    """``uvicorn module:app`` on a free loopback port until /health answers; stopped after.
    With ``workers`` > 1, uvicorn's supervisor is the process started (and stopped)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    with output.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,  # not the checkout: no .env of the developer's is read
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app = App(process, f"http://127.0.0.1:{port}")

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the app exited: {output.read_text(errors='replace')}")
        try:
            return httpx.get(f"{app.base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=60, interval=0.1)
        yield app
    finally:
        app.stop()


@contextmanager
def postgres_refusing(url: str) -> Iterator[None]:
    """The PostgreSQL database of ``url`` refuses connections (its open ones are closed)
    until the block ends: the database is down, for this database alone."""
    name = url.rsplit("/", 1)[1]
    admin = os.environ.get("YKMAKE_TEST_PG_URL", PG_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    try:
        yield
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def query(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def header(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


def sent_by(message: dict[str, Any], service: str) -> bool:
    """Whether ``message`` was posted by the process running as SERVICE_NAME=``service``."""
    return f"*Service*: {service}" in json.dumps(message)
