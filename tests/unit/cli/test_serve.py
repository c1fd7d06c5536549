"""``ykmake serve`` says where it listens and where its logs go, in every mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ykmake.cli._listen import network_bind_refusal
from ykmake.cli.serve import ServeMode, serving_line
from ykmake.settings import load_settings


@pytest.fixture(autouse=True)
def _no_log_settings_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOG_DIR", "LOG_TO_STDOUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("mode", "settings", "said"),
    [
        (
            ServeMode("127.0.0.1", 8000),
            {"ykmake_env": "production"},
            "serving YkMake on http://127.0.0.1:8000 (logs in ./logs)",
        ),
        (
            ServeMode("127.0.0.1", 8000, workers=2),
            {"ykmake_env": "production", "log_dir": Path("/var/log/ykmake")},
            "serving YkMake on http://127.0.0.1:8000 (2 workers; logs in /var/log/ykmake)",
        ),
        (
            ServeMode("::1", 8001, reload=True),
            {"ykmake_env": "development"},
            "serving YkMake on http://[::1]:8001 "
            "(reloading on code changes; logs in ./logs and on stderr)",
        ),
        (
            ServeMode("192.0.2.10", 80),
            {"ykmake_env": "production", "log_to_stdout": True, "log_dir": Path("./var")},
            "serving YkMake on http://192.0.2.10:80 (logs in ./var and as JSON on stdout)",
        ),
    ],
)
def test_the_serving_line(mode: ServeMode, settings: dict[str, Any], said: str) -> None:
    assert serving_line(mode, load_settings(_env_file=None, **settings)) == said


@pytest.mark.parametrize(
    ("mode", "in_process"),
    [
        (ServeMode("127.0.0.1", 8000), True),
        (ServeMode("127.0.0.1", 8000, workers=3), False),
        (ServeMode("127.0.0.1", 8000, reload=True), False),
    ],
)
def test_only_one_plain_process_builds_the_app_itself(mode: ServeMode, in_process: bool) -> None:
    assert mode.in_process is in_process


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_a_loopback_bind_is_fine_in_every_environment(host: str, environment: str) -> None:
    settings = load_settings(_env_file=None, ykmake_env=environment)
    assert network_bind_refusal(host, settings) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "example.com"])  # noqa: S104
def test_a_network_bind_is_for_production_only(host: str) -> None:
    assert (
        network_bind_refusal(host, load_settings(_env_file=None, ykmake_env="production")) is None
    )
    refusal = network_bind_refusal(host, load_settings(_env_file=None, ykmake_env="development"))
    assert refusal is not None
    assert refusal.startswith(f"--host {host or '(all interfaces)'} is not a loopback address")
    assert "YKMAKE_ENV=production" in refusal
