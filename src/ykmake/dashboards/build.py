"""Render the dashboards to JSON files for Grafana's file provider (deploy/grafana/dashboards/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from ykmake.dashboards.dependencies import dependencies_dashboard
from ykmake.dashboards.overview import OVERVIEW_TITLE, OVERVIEW_UID, overview_dashboard
from ykmake.stack.generate import SLO_FILE, Written, write_changed
from ykmake.stack.render import default_deploy_dir
from ykmake.stack.slo import SloSpec, load_slo_spec

__all__ = [
    "build_dashboards",
    "dashboard_files",
    "default_dashboards_dir",
    "panel_queries",
    "stale_dashboards",
    "unexpected_dashboards",
]


def default_dashboards_dir() -> Path:
    """deploy/grafana/dashboards of the checkout."""
    return default_deploy_dir() / "grafana" / "dashboards"


def _spec(spec: SloSpec | None) -> SloSpec:
    return spec if spec is not None else load_slo_spec(default_deploy_dir() / SLO_FILE)


def dashboard_files(spec: SloSpec | None = None) -> dict[str, str]:
    """Each dashboard's JSON text keyed by file name (default spec: deploy/slo.yml)."""
    dashboards = [
        overview_dashboard(_spec(spec)).build(),
        dependencies_dashboard(OVERVIEW_UID, OVERVIEW_TITLE).build(),
    ]
    encoder = JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)
    return {f"{d.uid}.json": encoder.encode(d) + "\n" for d in dashboards}


def build_dashboards(out_dir: Path, spec: SloSpec | None = None) -> Written:
    """Write every dashboard as JSON into ``out_dir``; files already up to date are left as
    they are (Grafana's file provider reloads what it sees change)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_changed({out_dir / name: text for name, text in dashboard_files(spec).items()})


def stale_dashboards(out_dir: Path, spec: SloSpec | None = None) -> list[str]:
    """Generated file names that are missing from ``out_dir`` or differ from the code there."""
    return [
        name
        for name, text in dashboard_files(spec).items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]


def unexpected_dashboards(out_dir: Path, spec: SloSpec | None = None) -> list[str]:
    """JSON files in ``out_dir`` that the code does not generate (Grafana would load them too)."""
    expected = dashboard_files(spec)
    return sorted(p.name for p in out_dir.glob("*.json") if p.name not in expected)


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every Prometheus query in a dashboard's JSON, rows included."""
    found = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        found += [(panel["title"], t["expr"]) for t in panel.get("targets", []) if "expr" in t]
    return found
