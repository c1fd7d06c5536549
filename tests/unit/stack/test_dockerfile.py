"""The Dockerfile, read as instructions (no Docker engine runs here)."""

from __future__ import annotations

import json
import shlex
from fnmatch import fnmatch

import pytest

from tests.unit.stack._paths import ROOT


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def _ignored() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_multi_stage_with_uv_from_the_lock() -> None:
    stages = [arg for op, arg in _instructions() if op == "FROM"]
    assert len(stages) >= 2
    assert stages[-1].endswith("AS runtime")
    runs = " ".join(arg for op, arg in _instructions() if op == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    copied = [arg for op, arg in _final_stage() if op == "COPY"]
    assert copied == ["--from=build --chown=ykmake:ykmake /app/.venv /app/.venv"]


def test_runs_as_an_unprivileged_user() -> None:
    users = [arg for op, arg in _final_stage() if op == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}


def test_healthcheck_probes_health_with_python() -> None:
    (check,) = [arg for op, arg in _final_stage() if op == "HEALTHCHECK"]
    argv = json.loads(check[check.index("CMD") + 3 :])
    assert argv[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/health" in argv[2]
    assert "curl" not in check


def test_serves_on_all_interfaces_in_production() -> None:
    (cmd,) = [arg for op, arg in _final_stage() if op == "CMD"]
    host = "0.0.0.0"  # noqa: S104 - inside a container the app must listen on its interface
    assert json.loads(cmd) == ["ykmake", "serve", "--host", host, "--port", "8000"]
    env = " ".join(arg for op, arg in _final_stage() if op == "ENV")
    assert "YKMAKE_ENV=production" in env
    assert "LOG_TO_STDOUT=true" in env


@pytest.mark.parametrize("path", ["pyproject.toml", "uv.lock", "README.md", "src"])
def test_copied_sources_exist_and_are_not_docker_ignored(path: str) -> None:
    copies = " ".join(arg for op, arg in _instructions() if op == "COPY")
    assert path in shlex.split(copies)
    assert (ROOT / path).exists()
    assert not any(fnmatch(path, pattern) for pattern in _ignored())


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    assert {".env", ".git", ".venv", ".ykmake", "tests"} <= set(_ignored())
