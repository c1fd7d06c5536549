"""The checks CI runs on deploy/: promtool and amtool on the files as committed and as rendered."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ykmake.stack.binaries import find_binary
from ykmake.stack.generate import stale_generated
from ykmake.stack.render import StackSecrets, render_stack

__all__ = ["CheckResult", "check_commands", "run_checks"]

_TIMEOUT = 300.0
# Placeholder secrets so the rendered config names credential files that exist.
_CHECK_SECRETS = StackSecrets("check-token", "check-token", "https://hooks.slack.invalid/check")


@dataclass(frozen=True)
class CheckResult:
    """One check: what ran, and what it said."""

    name: str
    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def check_commands(deploy_dir: Path, work_dir: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(name, argv) of each promtool/amtool check; renders the loopback configs into ``work_dir``.

    Raises:
        MissingBinaryError: promtool or amtool is not on PATH.
    """
    promtool, amtool = str(find_binary("promtool")), str(find_binary("amtool"))
    rendered = render_stack(work_dir, deploy_dir=deploy_dir, secrets=_CHECK_SECRETS)
    prometheus = deploy_dir / "prometheus"
    rules = sorted(str(p) for p in (prometheus / "rules").glob("*.yml"))
    tests = sorted(str(p) for p in (prometheus / "tests").glob("*.yml"))
    alertmanager = str(deploy_dir / "alertmanager" / "alertmanager.yml")
    syntax = (promtool, "check", "config", "--syntax-only", str(prometheus / "prometheus.yml"))
    return [
        # The committed file names /run/ykmake/… credential files that exist only in the
        # containers: check its syntax here, and everything on the rendered copy.
        ("prometheus.yml syntax", syntax),
        (
            "prometheus.yml for loopback",
            (promtool, "check", "config", str(rendered.prometheus_config)),
        ),
        ("rules", (promtool, "check", "rules", *rules)),
        ("rule unit tests", (promtool, "test", "rules", *tests)),
        ("alertmanager.yml", (amtool, "check-config", alertmanager)),
        (
            "alertmanager.yml for loopback",
            (amtool, "check-config", str(rendered.alertmanager_config)),
        ),
    ]


def _run(name: str, argv: tuple[str, ...], cwd: Path) -> CheckResult:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return CheckResult(name, argv, 124, f"timed out after {_TIMEOUT:g}s")
    return CheckResult(name, argv, done.returncode, (done.stdout + done.stderr).strip())


def run_checks(deploy_dir: Path, work_dir: Path) -> list[CheckResult]:
    """Run every check (generated files up to date, then promtool/amtool); never stops early.

    Raises:
        MissingBinaryError: promtool or amtool is not on PATH.
        SloSpecError: deploy/slo.yml is invalid.
    """
    stale = stale_generated(deploy_dir)
    results = [
        CheckResult(
            "generated rules match deploy/slo.yml",
            ("ykmake", "stack", "rules", "--check"),
            1 if stale else 0,
            "stale: " + ", ".join(stale) + " (run `ykmake stack rules`)" if stale else "up to date",
        )
    ]
    results += [_run(name, argv, deploy_dir) for name, argv in check_commands(deploy_dir, work_dir)]
    return results
