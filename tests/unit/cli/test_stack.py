"""``ykmake stack`` in process: rules, check and up, without starting any process."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.stack._paths import DEPLOY
from ykmake.cli.stack import stack_app
from ykmake.settings import Settings

runner = CliRunner()


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    return copy


def test_rules_check_passes_on_the_checkout() -> None:
    result = runner.invoke(stack_app, ["rules", "--check", "--deploy-dir", str(DEPLOY)])
    assert result.exit_code == 0, result.output


def test_rules_regenerates_after_the_objective_changes(deploy: Path) -> None:
    slo = deploy / "slo.yml"
    slo.write_text(
        slo.read_text(encoding="utf-8").replace("objective: 95", "objective: 97"), "utf-8"
    )

    stale = runner.invoke(stack_app, ["rules", "--check", "--deploy-dir", str(deploy)])
    assert stale.exit_code == 1
    assert "stale:" in stale.output
    assert "slo.yml" in stale.output

    written = runner.invoke(stack_app, ["rules", "--deploy-dir", str(deploy)])
    assert written.exit_code == 0, written.output
    assert written.stdout.splitlines() == [
        f"wrote {deploy / 'prometheus/rules/slo.yml'}",
        f"wrote {deploy / 'prometheus/tests/slo_test.yml'}",
    ]
    assert "(14.4 * 0.03)" in (deploy / "prometheus/rules/slo.yml").read_text(encoding="utf-8")
    assert (
        runner.invoke(stack_app, ["rules", "--check", "--deploy-dir", str(deploy)]).exit_code == 0
    )


def test_rules_says_when_nothing_changed(deploy: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in deploy.rglob("*.yml")}

    result = runner.invoke(stack_app, ["rules", "--deploy-dir", str(deploy)])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"unchanged: 5 generated files in {deploy}"
    assert {p: p.stat().st_mtime_ns for p in deploy.rglob("*.yml")} == before


def test_rules_reports_a_bad_definition_in_one_line(deploy: Path) -> None:
    (deploy / "slo.yml").write_text("service: ykmake\njob: ykmake\nslos: []\n", encoding="utf-8")

    result = runner.invoke(stack_app, ["rules", "--deploy-dir", str(deploy)])

    assert result.exit_code == 1
    assert "slos is missing" in result.output
    assert "Traceback" not in result.output


def test_check_without_promtool_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = runner.invoke(stack_app, ["check", "--deploy-dir", str(DEPLOY)])

    assert result.exit_code == 1
    assert "promtool not found on PATH" in result.output
    assert "apt-get install prometheus" in result.output


def test_up_without_prometheus_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = runner.invoke(
        stack_app,
        ["up", "--data-dir", str(tmp_path / "stack"), "--deploy-dir", str(DEPLOY)],
        obj=make_settings(),
    )

    assert result.exit_code == 1
    assert "not found on PATH" in result.output
    assert "apt-get install prometheus" in result.output


def test_up_with_grafana_insisted_on_but_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("prometheus", "prometheus-alertmanager"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))

    result = runner.invoke(
        stack_app,
        ["up", "--data-dir", str(tmp_path / "stack"), "--grafana", "--no-node-exporter"],
        obj=make_settings(),
    )

    assert result.exit_code == 1
    assert "grafana-server not found on PATH" in result.output


def test_up_refuses_a_public_url_that_is_not_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    args = ["up", "--data-dir", str(tmp_path / "stack"), "--no-node-exporter"]
    result = runner.invoke(
        stack_app, [*args, "--public-url", "ftp://monitoring.example.com"], obj=make_settings()
    )

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: public URL 'ftp://monitoring.example.com' is not an http:// or https:// URL"
    )


def test_up_with_a_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout

    result = runner.invoke(
        stack_app, ["up", "--data-dir", str(tmp_path / "stack")], env={"LOG_LEVEL": "loud"}
    )

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: LOG_LEVEL")


def test_up_names_the_package_of_an_exporter_it_cannot_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = make_settings(
        database_url="postgresql+psycopg://app:pg-secret-pw@127.0.0.1:5432/ykmake",
        redis_url="redis://127.0.0.1:6379/0",
    )

    result = runner.invoke(stack_app, ["up", "--data-dir", str(tmp_path / "stack")], obj=settings)

    lines = result.output.splitlines()
    for exporter in ("node-exporter", "postgres-exporter", "redis-exporter"):
        package = f"prometheus-{exporter}"
        assert f"{exporter}: skipped, not installed (apt-get install {package})" in lines
    assert "pg-secret-pw" not in result.output
