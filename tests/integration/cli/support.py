"""Run ``ykmake`` as a user does: a real process, with only the settings a test gives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ykmake.settings import Settings

__all__ = ["SETTINGS_VARS", "clean_env", "run_cli"]


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
