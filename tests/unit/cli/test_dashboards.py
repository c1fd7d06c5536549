"""``ykmake dashboards``: build writes what changed and says so; check notices drift."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ykmake.cli.dashboards import dashboards_app
from ykmake.dashboards import DEPENDENCIES_UID, OVERVIEW_UID, build_dashboards

runner = CliRunner()


def test_build_writes_files_and_check_notices_drift(tmp_path: Path) -> None:
    built = runner.invoke(dashboards_app, ["build", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    files = [f"{uid}.json" for uid in (OVERVIEW_UID, DEPENDENCIES_UID)]
    assert built.stdout.strip().splitlines() == [f"wrote {tmp_path / name}" for name in files]
    assert sorted(p.name for p in build_dashboards(tmp_path).unchanged) == sorted(files)
    checked = runner.invoke(dashboards_app, ["check", "--out", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip() == f"dashboards in {tmp_path} are up to date"

    (tmp_path / f"{OVERVIEW_UID}.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "hand-made.json").write_text("{}\n", encoding="utf-8")
    drift = runner.invoke(dashboards_app, ["check", "--out", str(tmp_path)])
    assert drift.exit_code == 1
    assert f"stale: {tmp_path / 'ykmake-overview.json'}" in drift.output
    assert f"not generated: {tmp_path / 'hand-made.json'}" in drift.output


def test_build_says_unchanged_and_leaves_the_files_alone(tmp_path: Path) -> None:
    assert runner.invoke(dashboards_app, ["build", "--out", str(tmp_path)]).exit_code == 0
    path = tmp_path / f"{OVERVIEW_UID}.json"
    written_at = path.stat().st_mtime_ns

    again = runner.invoke(dashboards_app, ["build", "--out", str(tmp_path)])

    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"unchanged: 2 dashboards in {tmp_path}"
    assert path.stat().st_mtime_ns == written_at
