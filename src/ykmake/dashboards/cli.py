"""``ykmake dashboards``: write the Grafana dashboards, or check the committed ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ykmake.dashboards.build import (
    build_dashboards,
    dashboard_files,
    default_dashboards_dir,
    panel_queries,
    stale_dashboards,
    unexpected_dashboards,
)
from ykmake.stack.errors import StackError
from ykmake.stack.generate import SLO_FILE
from ykmake.stack.metric_check import known_metric_names, unknown_metrics
from ykmake.stack.render import default_deploy_dir
from ykmake.stack.slo import load_slo_spec

__all__ = ["dashboards_app"]

dashboards_app = typer.Typer(
    name="dashboards", help="Grafana dashboards generated from Python.", no_args_is_help=True
)
# soft_wrap: paths in messages stay on one line, whatever the terminal's width.
_console = Console(soft_wrap=True)
_err = Console(stderr=True, soft_wrap=True)

OutDir = Annotated[
    Path | None,
    typer.Option("--out", help="Directory of the JSON files (default: deploy/grafana/dashboards)."),
]


@dashboards_app.command()
def build(out: OutDir = None) -> None:
    """Write every dashboard as a JSON file for Grafana's file provider."""
    try:
        for path in build_dashboards(out or default_dashboards_dir()):
            _console.print(f"wrote {path}", highlight=False)
    except StackError as exc:
        _err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


@dashboards_app.command()
def check(out: OutDir = None) -> None:
    """Exit 1 if the JSON files differ from the code or query a metric nobody exports."""
    directory = out or default_dashboards_dir()
    try:
        spec = load_slo_spec(default_deploy_dir() / SLO_FILE)
    except StackError as exc:
        _err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    failed = False
    for name in stale_dashboards(directory, spec):
        _err.print(f"stale: {directory / name} (run `ykmake dashboards build`)", highlight=False)
        failed = True
    for name in unexpected_dashboards(directory, spec):
        _err.print(f"not generated: {directory / name} (remove it)", highlight=False)
        failed = True
    known = known_metric_names(spec)
    for name, text in dashboard_files(spec).items():
        for panel, metric in unknown_metrics(panel_queries(json.loads(text)), known):
            _err.print(f"{name}: panel {panel!r} queries unknown metric {metric}", highlight=False)
            failed = True
    if failed:
        raise typer.Exit(1)
    _console.print(f"dashboards in {directory} are up to date")
