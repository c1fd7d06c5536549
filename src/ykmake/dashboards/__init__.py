"""Grafana dashboards as code (grafana-foundation-sdk), written to deploy/grafana/dashboards/."""

from __future__ import annotations

from ykmake.dashboards.build import (
    build_dashboards,
    dashboard_files,
    default_dashboards_dir,
    panel_queries,
    stale_dashboards,
    unexpected_dashboards,
)
from ykmake.dashboards.dependencies import (
    DEPENDENCIES_TITLE,
    DEPENDENCIES_UID,
    dependencies_dashboard,
)
from ykmake.dashboards.overview import OVERVIEW_TITLE, OVERVIEW_UID, overview_dashboard

__all__ = [
    "DEPENDENCIES_TITLE",
    "DEPENDENCIES_UID",
    "OVERVIEW_TITLE",
    "OVERVIEW_UID",
    "build_dashboards",
    "dashboard_files",
    "default_dashboards_dir",
    "dependencies_dashboard",
    "overview_dashboard",
    "panel_queries",
    "stale_dashboards",
    "unexpected_dashboards",
]
