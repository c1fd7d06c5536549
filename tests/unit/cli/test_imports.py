"""A light CLI: ``ykmake --help`` and ``ykmake stack check`` load neither the alert stack, nor
the app, nor the database layer. Each case runs ``ykmake`` in a fresh interpreter and lists
the modules it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.stack._paths import DEPLOY

# The alert path's vocabulary (the choices of `alerts list --severity` …) is one small module
# of enums; everything else under monitoring.alerts is the alert stack.
_ALLOWED = {"ykmake.monitoring.alerts", "ykmake.monitoring.alerts.vocabulary"}
_HEAVY = (
    "ykmake.monitoring.alerts",
    "ykmake.monitoring.setup",
    "ykmake.app",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
)

_PROBE = """
import json, sys
out, args = sys.argv[1], sys.argv[2:]
sys.argv = ["ykmake", *args]
from ykmake.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


def _heavy_modules_after(tmp_path: Path, *args: str) -> tuple[object, list[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        cwd=tmp_path,
        env={"PATH": str(tmp_path), "COLUMNS": "100"},  # no promtool: `stack check` stops early
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), done.stderr
    found = json.loads(out.read_text(encoding="utf-8"))
    heavy = [
        name
        for name in found["modules"]
        if name not in _ALLOWED and any(name == h or name.startswith(f"{h}.") for h in _HEAVY)
    ]
    return found["code"], heavy


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["stack", "--help"],
        ["stack", "check", "--help"],
        ["stack", "up", "--help"],
        ["alerts", "list", "--help"],
        ["serve", "--help"],
        ["load", "--help"],
    ],
)
def test_help_is_light(tmp_path: Path, args: list[str]) -> None:
    code, heavy = _heavy_modules_after(tmp_path, *args)
    assert code == 0
    assert heavy == []


def test_stack_check_is_light(tmp_path: Path) -> None:
    # It runs as far as it can without promtool: the SLO files are read and regenerated.
    code, heavy = _heavy_modules_after(tmp_path, "stack", "check", "--deploy-dir", str(DEPLOY))
    assert code == 1
    assert heavy == []


def test_the_probe_sees_heavy_modules_when_a_command_loads_them(tmp_path: Path) -> None:
    # An unknown alert id: the command opens the database and builds the alert parts.
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'probe.db'}\nLOG_DIR={tmp_path / 'logs'}\n"
        f"ALERT_SPOOL_DIR={tmp_path / 'spool'}\n",
        encoding="utf-8",
    )
    code, heavy = _heavy_modules_after(tmp_path, "alerts", "show", "1")
    assert code == 2
    assert {"sqlalchemy", "ykmake.app.db", "ykmake.monitoring.alerts.store"} <= set(heavy)
