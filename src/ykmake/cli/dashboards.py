"""``ykmake dashboards``: write the Grafana dashboards, or check the committed ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ykmake.cli._shared import command_group, console, counted, err_console, fail

__all__ = ["dashboards_app"]

dashboards_app = command_group("Grafana dashboards generated from Python.", name="dashboards")

OutDir = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="PATH",
        help="Directory of the JSON files (default: deploy/grafana/dashboards).",
    ),
]


@dashboards_app.command()
def build(out: OutDir = None) -> None:
    """Write every dashboard as a JSON file for Grafana's file provider."""
    from ykmake.dashboards.build import build_dashboards, default_dashboards_dir
    from ykmake.stack.errors import StackError

    directory = out or default_dashboards_dir()
    try:
        written = build_dashboards(directory)
    except StackError as exc:
        fail(str(exc), 1)
    for path in written.changed:
        console.print(f"wrote {path}", highlight=False)
    if not written.changed:
        dashboards = counted(len(written.unchanged), "dashboard")
        console.print(f"unchanged: {dashboards} in {directory}", highlight=False)


def _problems(directory: Path) -> list[str]:
    """Stale or unexpected files, and panels that query a metric nobody exports."""
    import json

    from ykmake.dashboards.build import (
        dashboard_files,
        panel_queries,
        stale_dashboards,
        unexpected_dashboards,
    )
    from ykmake.stack.generate import SLO_FILE
    from ykmake.stack.metric_check import known_metric_names, unknown_metrics
    from ykmake.stack.render import default_deploy_dir
    from ykmake.stack.slo import load_slo_spec

    spec = load_slo_spec(default_deploy_dir() / SLO_FILE)
    problems = [
        f"stale: {directory / name} (run `ykmake dashboards build`)"
        for name in stale_dashboards(directory, spec)
    ]
    problems += [
        f"not generated: {directory / name} (remove it)"
        for name in unexpected_dashboards(directory, spec)
    ]
    known = known_metric_names(spec)
    for name, text in dashboard_files(spec).items():
        for panel, metric in unknown_metrics(panel_queries(json.loads(text)), known):
            problems.append(f"{name}: panel {panel!r} queries unknown metric {metric}")
    return problems


@dashboards_app.command()
def check(out: OutDir = None) -> None:
    """Exit 1 if the JSON files differ from the code or query a metric nobody exports."""
    from ykmake.dashboards.build import default_dashboards_dir
    from ykmake.stack.errors import StackError

    directory = out or default_dashboards_dir()
    try:
        problems = _problems(directory)
    except StackError as exc:
        fail(str(exc), 1)
    for problem in problems:
        err_console.print(problem, highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"dashboards in {directory} are up to date", highlight=False)
