from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ykmake.dashboards import DEPENDENCIES_UID, OVERVIEW_UID, dashboard_files, panel_queries
from ykmake.stack import known_metric_names, load_slo_spec, unknown_metrics
from ykmake.stack.render import default_deploy_dir


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    files = dashboard_files()
    return {uid: json.loads(files[f"{uid}.json"]) for uid in (OVERVIEW_UID, DEPENDENCIES_UID)}


def _rows_and_panels(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """Row title -> the titles of the panels under it, in order."""
    rows: dict[str, list[str]] = {}
    current = ""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            rows[current] = []
        else:
            rows[current].append(panel["title"])
    return rows


def test_postgres_redis_and_the_host_each_have_a_row(dashboards: dict[str, Any]) -> None:
    rows = _rows_and_panels(dashboards[DEPENDENCIES_UID])
    assert list(rows) == ["PostgreSQL", "Redis", "Host"]
    assert rows["PostgreSQL"][0] == "PostgreSQL Up"
    assert rows["Redis"][0] == "Redis Up"
    assert {"CPU Busy", "Memory Used", "Disk Space Used", "File Descriptors"} <= set(rows["Host"])


def test_every_query_reads_an_exporters_metric(dashboards: dict[str, Any]) -> None:
    queries = list(panel_queries(dashboards[DEPENDENCIES_UID]))
    assert len(queries) >= 15
    for title, expr in queries:
        names = set(re.findall(r"\b((?:pg|redis|node)_[a-zA-Z_]+)", expr))
        assert names, f"{title}: {expr} reads no exporter metric"


def test_the_overview_and_the_dependencies_link_to_each_other(
    dashboards: dict[str, Any],
) -> None:
    overview, dependencies = dashboards[OVERVIEW_UID], dashboards[DEPENDENCIES_UID]
    assert [link["url"] for link in overview["links"]] == [f"/d/{DEPENDENCIES_UID}"]
    assert [link["url"] for link in dependencies["links"]] == [f"/d/{OVERVIEW_UID}"]
    assert all(link["keepTime"] for link in overview["links"] + dependencies["links"])
    latency = next(p for p in overview["panels"] if p["title"].startswith("Database Query Latency"))
    assert [link["url"] for link in latency["links"]] == [f"/d/{DEPENDENCIES_UID}"]


def test_every_metric_it_reads_is_one_the_exporters_are_checked_for(
    dashboards: dict[str, Any],
) -> None:
    # The live test scrapes the real exporters for exactly these names.
    known = known_metric_names(load_slo_spec(default_deploy_dir() / "slo.yml"))
    assert unknown_metrics(panel_queries(dashboards[DEPENDENCIES_UID]), known) == []
