"""promtool and amtool, the real binaries, on deploy/ as committed and as rendered for loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.stack.harness import require_binaries
from tests.unit.stack._paths import DEPLOY
from ykmake.stack import CheckResult, run_checks

pytestmark = pytest.mark.integration

CHECKS = (
    "generated rules match deploy/slo.yml",
    "prometheus.yml syntax",
    "prometheus.yml for loopback",
    "rules",
    "rule unit tests",
    "alertmanager.yml",
    "alertmanager.yml for loopback",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckResult]:
    require_binaries("promtool", "amtool")
    return {r.name: r for r in run_checks(DEPLOY, tmp_path_factory.mktemp("check"))}


@pytest.mark.parametrize("name", CHECKS)
def test_check_passes(results: dict[str, CheckResult], name: str) -> None:
    result = results[name]
    assert result.ok, f"{' '.join(result.argv)}\n{result.output}"


def test_rule_unit_tests_ran_every_file(results: dict[str, CheckResult]) -> None:
    ran = results["rule unit tests"].output
    for path in (DEPLOY / "prometheus" / "tests").glob("*.yml"):
        assert path.name in ran
    assert "FAILED" not in ran


def test_a_wrong_expectation_fails_the_rule_tests(tmp_path: Path) -> None:
    require_binaries("promtool", "amtool")
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    tests = deploy / "prometheus" / "tests" / "alerts_test.yml"
    text = tests.read_text(encoding="utf-8")
    tests.write_text(
        text.replace("summary: ykmake target app:8000 is down", "summary: up"), "utf-8"
    )

    results = {r.name: r for r in run_checks(deploy, tmp_path / "work")}

    assert not results["rule unit tests"].ok
    assert "YkMakeTargetDown" in results["rule unit tests"].output
    assert results["rules"].ok
